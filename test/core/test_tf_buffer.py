"""The pure TF buffer: chains, interpolation, and the lookups it must refuse."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.tf_buffer import TFBuffer, TFLookupError

S = 1_000_000_000


def _T(rotvec, t) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    out[:3, 3] = t
    return out


@pytest.fixture
def buffer() -> TFBuffer:
    """world -> base (static) -> tool (moving, 1..3 s) -> cam (static); world -> marker."""
    tf = TFBuffer(max_extrapolation=0.05, max_gap=1.5)
    tf.add("world", "base", 0, _T([0, 0, 0.3], [1, 0, 0]), static=True)
    for k, sec in enumerate((1, 2, 3)):
        tf.add("base", "tool", sec * S, _T([0, 0.4 * k, 0], [0, 0.1 * k, 0.5]), static=False)
    tf.add("/tool", "cam", 0, _T([0.1, 0, 0], [0, 0, 0.05]), static=True)  # ROS 1 style id
    tf.add("world", "marker", 0, _T([0, 0, -1.0], [2, 2, 0]), static=True)
    return tf


def test_chain_composes_edges_at_samples(buffer):
    expected = (
        _T([0, 0, 0.3], [1, 0, 0]) @ _T([0, 0.4, 0], [0, 0.1, 0.5]) @ _T([0.1, 0, 0], [0, 0, 0.05])
    )
    np.testing.assert_allclose(buffer.lookup("world", "cam", 2 * S), expected, atol=1e-12)
    np.testing.assert_allclose(
        buffer.lookup("cam", "world", 2 * S), np.linalg.inv(expected), atol=1e-12
    )
    assert buffer.root("cam") == "world"


def test_interpolation_is_slerp_and_linear(buffer):
    stamp = int(1.25 * S)
    got = buffer.lookup("base", "tool", stamp)
    slerp = Slerp([1.0, 2.0], Rotation.from_rotvec([[0, 0, 0], [0, 0.4, 0]]))
    np.testing.assert_allclose(got[:3, :3], slerp([1.25]).as_matrix()[0], atol=1e-9)
    np.testing.assert_allclose(got[:3, 3], [0, 0.025, 0.5], atol=1e-12)


def test_lookup_across_branches(buffer):
    T = buffer.lookup("marker", "cam", 3 * S)
    direct = np.linalg.inv(buffer.lookup("world", "marker", 3 * S)) @ buffer.lookup(
        "world", "cam", 3 * S
    )
    np.testing.assert_allclose(T, direct, atol=1e-12)


def test_refused_lookups(buffer):
    with pytest.raises(TFLookupError, match="extrapolation"):
        buffer.lookup("world", "cam", int(3.2 * S))
    np.testing.assert_allclose(  # within max_extrapolation: the nearest sample
        buffer.lookup("base", "tool", int(3.04 * S)), buffer.lookup("base", "tool", 3 * S)
    )
    with pytest.raises(TFLookupError, match="not in TF"):
        buffer.lookup("world", "gripper", 2 * S)
    buffer.add("odom", "robot", 0, np.eye(4), static=True)
    with pytest.raises(TFLookupError, match="not connected"):
        buffer.lookup("world", "robot", 2 * S)


def test_gaps_and_conflicts(buffer):
    buffer.add("base", "tool", 6 * S, np.eye(4), static=False)
    with pytest.raises(TFLookupError, match="apart"):
        buffer.lookup("base", "tool", 4 * S)
    buffer.add("marker", "tool", 2 * S, np.eye(4), static=False)  # a second parent: ignored
    assert buffer.conflicts == 1
    assert ("base", "tool", False) in buffer.edges()


def test_cache_keeps_only_the_newest_seconds_of_a_stream():
    """A live stream (the node's fusion): 100 Hz for 60 s stays bounded by cache_s."""
    tf = TFBuffer(max_extrapolation=0.0, cache_s=2.0)
    tf.add("map", "odom", 0, np.eye(4), static=True)
    for k in range(6000):
        tf.add("odom", "base", k * S // 100, _T([0, 0, 0.001 * k], [0.01 * k, 0, 0]),
               static=False)  # fmt: skip
    stamps = tf._edges["base"].stamps
    assert len(stamps) <= 221 and min(stamps) >= (59.99 - 2.2) * S
    np.testing.assert_allclose(tf.lookup("map", "base", int(59.5 * S))[:3, 3], [59.5, 0, 0])
    with pytest.raises(TFLookupError, match="extrapolation"):
        tf.lookup("map", "base", 50 * S)  # pruned
    with pytest.raises(InputError, match="cache_s"):
        TFBuffer(cache_s=0.0)


def test_a_frame_to_itself_is_the_identity(buffer):
    np.testing.assert_array_equal(buffer.lookup("cam", "/cam", 123), np.eye(4))


def test_samples_streamed_in_order_or_not_give_the_same_lookups():
    """A live stream extends the sorted arrays; a sample out of order re-sorts them."""
    live, ordered = TFBuffer(), TFBuffer()
    stamps = [1, 2, 3, 5, 4, 6, 7]  # 4 arrives late
    for k, sec in enumerate(stamps):
        T = _T([0, 0, 0.1 * sec], [sec, 0, 0])
        live.add("odom", "base", sec * S, T, static=False)
        if k in (2, 3, 5):  # lookups between additions (the node's worker does this)
            live.lookup("odom", "base", int(stamps[min(k, 3)] * S))
    for sec in sorted(stamps):
        ordered.add("odom", "base", sec * S, _T([0, 0, 0.1 * sec], [sec, 0, 0]), static=False)
    for t in (1.5, 3.5, 4.5, 6.9):
        np.testing.assert_allclose(
            live.lookup("odom", "base", int(t * S)),
            ordered.lookup("odom", "base", int(t * S)),
            atol=1e-12,
        )
