"""Category-level 6D object pose estimation for ROS 2.

Layers: ``core`` (pure numpy/torch, never imports rclpy), ``shapes`` (category shape priors),
``render`` and ``models`` (torch building blocks), the estimators ``nemo`` (RGB) and ``cse``
(RGB-D), ``pipeline`` (the per-frame work: estimate, track), ``viz`` (debug drawing),
``conversions`` (ROS messages <-> arrays), ``node`` (the rclpy lifecycle node, its
synchroniser and statistics) and ``tools`` (bag player, demo). Training-only code, with its
heavier dependencies, lives in the top-level ``offline_training`` package.
"""

__version__ = "0.1.0"
