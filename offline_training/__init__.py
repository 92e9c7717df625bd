"""Offline training and data generation: synthetic data engine, bag extraction, trainers.

Needs the ``data``/``train`` extras (open3d, rosbags, tqdm); the ROS node never imports it.
"""
