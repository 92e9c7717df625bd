"""Unlabeled robot recordings -> per-instance training data (issue #6, extraction part).

Record a bag with the robot, extract it once, train from the cache. Modules, one idea each:

* bags are read with the project's one reader, :mod:`ros_pose_estimation.tools.bag_reader`
  (rosbag2 folders or single .mcap / .db3 files, sqlite3 or mcap; with ``salvage`` it reads
  truncated files up to the damage); its errors (``BagError``, ``CorruptBagError``) are in
  :mod:`ros_pose_estimation.tools.bag_errors`. ROS 1 bags: convert with ``rosbags-convert``.
* :mod:`.topics`: which topic is the image, depth, camera info, detections, tf (auto +
  overrides).
* TF: :class:`ros_pose_estimation.core.tf_buffer.TFBuffer` (pure: interpolation, chain lookup;
  shared with the node's world-frame fusion) gives the camera poses.
* :mod:`.frame_builder`: one synchronised set -> one frame (or a skip with a reason);
  objects from detections, :mod:`.segment` (depth: plane RANSAC + DBSCAN) or
  :mod:`.box_tracking` (a box given for the first frame, followed).
* :mod:`.tracking`: per-instance tracks (3D in the fixed frame, else 2D IoU; Hungarian).
* :mod:`.cache`: the content-hashed, chunked, resumable dataset on disk and its reader
  :class:`~.cache.ExtractedRecording`; :mod:`.report`: what was extracted and skipped.
* :mod:`.extract`: :func:`~.extract.extract_bag`, the whole pipeline; :mod:`.cli`: ``extract``.
* :mod:`.pseudo_labels`: label-free object poses per track (fused depth in the fixed frame,
  table plane, category template fitted over yaw; ambiguous / poor fits rejected with a reason);
  :mod:`.export_bop`: pseudo-labelled frames as a BOP dataset for the NeMo trainer;
  :mod:`.ground_truth`: a recording's ground truth, for evaluation and the supervised upper
  bound only (the label-free path never imports it). The whole route: ``pose-train``
  (:mod:`offline_training.pose_train`).

Needs the training extras (rosbags; open3d for depth segmentation). Never imported by the node.
"""
