"""What the node draws for people: the debug image and the colours shared with RViz.

* :mod:`.overlay`: ``draw_overlay``, tracked poses (outline, axes, label) over the input image
  (the node's ``~/debug_image``).
* :mod:`.colors`: one display colour per category, used by the overlay and the markers
  (:mod:`ros_pose_estimation.conversions.markers`).

OpenCV + numpy only; no rclpy, no torch.
"""
