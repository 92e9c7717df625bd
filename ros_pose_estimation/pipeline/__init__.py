"""The node's per-frame work without ROS: detections in, tracked poses out.

One frame passes through, in order:

1. :mod:`.estimators`: the category models (``ModelSpec``), loaded once on configure into one
   estimator per method (NeMo RGB, CSE RGB-D), all with the same ``estimate`` call;
2. :mod:`.pose_pipeline`: ``PosePipeline.process`` batches the frame's detections per
   estimator, isolates the detection that breaks a batch, applies ``max_objects`` /
   ``min_score`` and counts every skipped detection by reason (``FrameResult``);
3. :mod:`.tracking`: ``TrackFilter`` associates the estimates with tracks, rejects outliers and
   smooths them (settings in :mod:`.track_config`; results and track snapshots in
   :mod:`.tracks`).

Importing this package imports none of its modules (nor rclpy or torch).
"""
