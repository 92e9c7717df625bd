"""Top-k selection by the Eq. 6 score per category, and label accuracy vs ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from offline_training.adapt.pseudo_labels import PseudoLabel, label_accuracy, select_top_k
from ros_pose_estimation.core.errors import ConfigError


def _label(i: int, category: str, score: float, err: float | None = None) -> PseudoLabel:
    return PseudoLabel(0, i, 0, 1, category, np.eye(3), np.zeros(3), score, err)


def test_top_k_keeps_the_most_confident_per_category():
    labels = [_label(0, "mug", 0.2), _label(1, "bottle", 0.9), _label(2, "mug", 0.8),
              _label(3, "mug", 0.5), _label(4, "bottle", 0.1), _label(5, "mug", 0.8)]
    kept = select_top_k(labels, 2)
    assert [(lb.category, lb.im_id) for lb in kept] == [
        ("mug", 2), ("mug", 5), ("bottle", 1), ("bottle", 4)]  # ties: the earlier first
    assert len(select_top_k(labels, 100)) == len(labels)
    assert [lb.im_id for lb in select_top_k(labels, 1)] == [2, 1]
    with pytest.raises(ConfigError, match="k >= 1"):
        select_top_k(labels, 0)


def test_label_accuracy_only_where_ground_truth_exists():
    assert label_accuracy([_label(0, "mug", 0.5)]) is None
    acc = label_accuracy([_label(0, "mug", 0.4, 10.0), _label(1, "mug", 0.6, 50.0),
                          _label(2, "mug", 0.5, None)])
    assert acc["count"] == 2 and acc["acc_pi_6"] == pytest.approx(0.5)
    assert acc["median_deg"] == pytest.approx(30.0) and acc["mean_score"] == pytest.approx(0.5)
    d = _label(0, "mug", 0.5, 3.0).to_dict()
    assert d["R"] == np.eye(3).tolist() and d["rot_err_deg"] == 3.0
