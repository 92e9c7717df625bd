"""Per-instance association: 3D in the fixed frame, 2D IoU fallback, categories, known ids."""

import numpy as np
import pytest

from offline_training.bags.tracking import InstanceTracker, TrackerConfig, box_iou
from ros_pose_estimation.core.errors import ConfigError


def test_box_iou():
    assert box_iou(np.array([0, 0, 2, 2]), np.array([1, 0, 3, 2])) == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 1, 1]), np.array([2, 2, 3, 3])) == 0.0


def test_3d_tracks_survive_reordering_jitter_and_a_long_absence():
    rng = np.random.default_rng(0)
    mugs = np.array([[0.0, 0.0, 0.05], [0.25, 0.0, 0.05]])  # two mugs 25 cm apart (world)
    tracker = InstanceTracker(TrackerConfig(gate_m=0.08, max_gap_2d=2))
    box = np.array([0.0, 0.0, 10.0, 10.0])  # boxes carry no information here
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for frame in range(40):
        if 10 <= frame < 30:  # mug 1 out of view for 20 frames
            order = [0]
        else:
            order = [1, 0] if frame % 2 else [0, 1]
        positions = [mugs[i] + rng.normal(0, 0.01, 3) for i in order]
        ids = tracker.update(frame, ["mug"] * len(order), [box] * len(order), positions)
        for i, tid in zip(order, ids, strict=True):
            seen[i].add(tid)
    assert len(seen[0]) == 1 and len(seen[1]) == 1 and seen[0] != seen[1]
    summaries = tracker.summaries()
    assert [s.n_frames for s in summaries] == [40, 20]
    np.testing.assert_allclose(summaries[1].position_fixed, mugs[1], atol=0.01)


def test_categories_never_share_a_track():
    tracker = InstanceTracker()
    p = np.array([0.0, 0.0, 0.0])
    box = np.array([0.0, 0.0, 10.0, 10.0])
    a = tracker.update(0, ["mug", "bowl"], [box, box], [p, p])
    b = tracker.update(1, ["bowl", "mug"], [box, box], [p, p])
    assert a == [0, 1] and b == [1, 0]


def test_2d_iou_tracking_without_positions_and_gap_limit():
    tracker = InstanceTracker(TrackerConfig(max_gap_2d=2, min_track_frames=3))
    ids = []
    for frame in range(6):
        left = np.array([10.0 + 2 * frame, 10, 40 + 2 * frame, 40])
        right = np.array([100.0 - 2 * frame, 10, 130 - 2 * frame, 40])
        ids.append(tracker.update(frame, ["can", "can"], [right, left], [None, None]))
    assert all(i == ids[0] for i in ids)
    # unseen for 4 frames (> max_gap_2d): a new track, and it is short
    late = tracker.update(10, ["can"], [np.array([20.0, 10, 50, 40])], [None])
    assert late[0] not in ids[0]
    assert tracker.summaries()[-1].short


def test_known_identities_are_kept():
    tracker = InstanceTracker()
    box = np.array([0.0, 0.0, 5.0, 5.0])
    assert tracker.update(0, ["mug", "box"], [box, box], [None, None], known=[1, 0]) == [1, 0]
    far = np.array([500.0, 500, 505, 505])
    assert tracker.update(1, ["mug"], [far], [None], known=[1]) == [1]
    assert tracker.update(2, ["mug"], [far], [None]) == [1]  # associated by IoU


def test_config_is_validated():
    with pytest.raises(ConfigError, match="gate_m"):
        InstanceTracker(TrackerConfig(gate_m=0.0))
