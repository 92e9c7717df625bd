"""Category-level 6D object pose estimation for ROS 2.

Layers: ``core`` (pure numpy/torch, never imports rclpy), ``shapes`` (category shape priors),
``conversions`` (ROS messages <-> arrays) and ``nodes`` (thin rclpy nodes). Training-only code,
with its heavier dependencies, lives in the top-level ``offline_training`` package.
"""

__version__ = "0.1.0"
