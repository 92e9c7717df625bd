"""The pure TF buffer: chains, interpolation, and the lookups it must refuse."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from offline_training.bags.tf_buffer import TFBuffer, TFLookupError

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
