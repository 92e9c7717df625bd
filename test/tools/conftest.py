"""Tiny rosbag2 recordings written with ``rosbags`` for the tests of the bag tools.

``bag_kit`` hands the helpers to test modules (a conftest is not importable under
``--import-mode=importlib``): ``bag_kit.write(path, ...)`` writes a bag and returns its
messages, ``bag_kit.truncate(file, keep)`` cuts a file, ``T0`` / ``NS`` / ``BLOB`` as below.
``rclpy_mod``: rclpy for the play-bag DDS tests, or a skip naming why not.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

T0 = 1_700_000_000 * 1_000_000_000  # bag start (ns)
NS = 1_000_000_000
BLOB = "rpe_test_msgs/msg/Blob"  # a type no ROS install has


def make_store():
    """A fresh rosbags store (Kilted) with the unknown test type registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg("uint8[] data\nstring note", BLOB))
    return store


def write_bag(
    path: Path,
    storage: str = "sqlite3",
    seconds: float = 2.0,
    ticks_hz: float = 10.0,
    chatter_hz: float = 0.0,
    blob: bool = False,
    compress: str = "none",
) -> list[tuple[str, int, bytes]]:
    """Write a rosbag2 folder; returns its ``(topic, bag_ns, cdr)`` messages in bag order.

    ``/ticks``: std_msgs/Header with stamp == bag time, frame_id ``tick<i>``;
    ``/chatter``: std_msgs/String; ``/blob``: the unknown :data:`BLOB` type.
    ``compress``: ``none``, ``file`` or ``message`` (zstd).
    """
    import numpy as np
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    store = make_store()
    t = store.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    if compress != "none":
        mode = CompressionMode.FILE if compress == "file" else CompressionMode.MESSAGE
        writer.set_compression(mode, CompressionFormat.ZSTD)
    messages = []
    for i in range(int(round(seconds * ticks_hz)) + 1):
        ns = T0 + round(i * NS / ticks_hz)
        stamp = t["builtin_interfaces/msg/Time"](sec=ns // NS, nanosec=ns % NS)
        msg = t["std_msgs/msg/Header"](stamp=stamp, frame_id=f"tick{i}")
        messages.append(("/ticks", ns, store.serialize_cdr(msg, "std_msgs/msg/Header")))
    for i in range(int(round(seconds * chatter_hz))):
        ns = T0 + round((i + 0.5) * NS / chatter_hz)
        msg = t["std_msgs/msg/String"](data=f"hello {i}")
        messages.append(("/chatter", ns, store.serialize_cdr(msg, "std_msgs/msg/String")))
    if blob:
        for i in range(3):
            msg = t[BLOB](data=np.arange(i + 1, dtype=np.uint8), note=f"blob {i}")
            messages.append(("/blob", T0 + i * NS // 4 + 1, store.serialize_cdr(msg, BLOB)))
    messages.sort(key=lambda m: m[1])
    types = {"/ticks": "std_msgs/msg/Header", "/chatter": "std_msgs/msg/String", "/blob": BLOB}
    with writer:
        conns = {}
        for topic, ns, raw in messages:
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, types[topic], typestore=store)
            writer.write(conns[topic], ns, bytes(raw))
    return [(topic, ns, bytes(raw)) for topic, ns, raw in messages]


def truncate(path: Path, keep: float) -> None:
    """Keep the first ``keep`` fraction of the file's bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.fixture(scope="session")
def bag_kit() -> SimpleNamespace:
    return SimpleNamespace(
        write=write_bag, truncate=truncate, store=make_store, T0=T0, NS=NS, BLOB=BLOB
    )


@pytest.fixture(scope="module")
def rclpy_mod():
    """rclpy, or a skip naming the import error (failure if ROS_POSE_ESTIMATION_REQUIRE_ROS=1)."""
    try:
        import rclpy
        import std_msgs.msg  # noqa: F401
    except Exception as exc:  # ImportError, or OSError from a missing RMW library
        reason = f"rclpy not importable: {type(exc).__name__}: {exc}"
        if os.environ.get("ROS_POSE_ESTIMATION_REQUIRE_ROS") == "1":
            pytest.fail(f"{reason} (ROS_POSE_ESTIMATION_REQUIRE_ROS=1)")
        pytest.skip(reason)
    return rclpy
