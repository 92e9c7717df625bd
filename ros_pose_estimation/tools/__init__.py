"""Command-line tools and their library APIs (each module documents its own tool).

``play-bag`` (:mod:`.play_bag`) plays a rosbag2 recording (sqlite3 or MCAP) to ROS 2 topics with
rclpy, for machines without ``ros2 bag`` (the PyPI ROS wheels have no rosbag2). Its layers:
:mod:`.playback` (options, schedule, summary: pure Python), :mod:`.bag_reader` (reads bags with
``rosbags``, imported lazily: a data dependency), :mod:`.bag_publishers` (one rclpy publisher per
played topic) and :mod:`.bag_player` (publishes with rclpy; library API
:class:`~.bag_player.BagPlayer`).

:mod:`.bag_reader` is the project's one bag reader (raw or deserialised messages by topic and
time range; folders or single ``.mcap`` / ``.db3`` files), also used by extraction and the
synthetic-data tools; :mod:`.bag_errors` holds its errors, :mod:`.bag_salvage` reads damaged
files up to the damage, :mod:`.bag_types` builds the typestore that deserialises a bag.

:mod:`.demo` plays a recording into the node and scores or counts its poses (topics chosen by
:mod:`.demo_topics`, results and overlays by :mod:`.demo_report`); :mod:`.scale_bag` copies a
recording at another camera resolution (:mod:`.frame_scaling`) and/or with shifted stamps, to
try the node as a user's camera feeds it.

Importing this package imports neither rosbags nor rclpy.
"""
