"""Offline training and data generation: synthetic data engine, bag extraction, trainers.

Shared by the trainers and evaluators: :mod:`.train_loop` (run folder, resume, step loop, the
step-indexed batch sampler), :mod:`.bop_objects` (the annotated objects of a BOP split),
:mod:`.evaluation` (which objects are evaluated, detector boxes, device line); ``pose-train``
is :mod:`.pose_train` with :mod:`.pose_train_nemo`, :mod:`.pose_train_cse` and
:mod:`.pose_train_stages`.

Needs the ``data``/``train`` extras (open3d, rosbags, tqdm); the ROS node never imports it.
"""
