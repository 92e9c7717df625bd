"""The estimator contract (core.estimation): input checks, grouping per category, placing the
estimates back, and both estimators offering the same call."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import InputError, IntrinsicsError
from ros_pose_estimation.core.estimation import (
    Detection,
    Estimator,
    PoseEstimate,
    check_inputs,
    group_by_category,
    place_estimates,
)

INTR = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
RGB = np.zeros((48, 64, 3), np.uint8)
LOADED = {"mug": object(), "bottle": object()}


def _est(category: str) -> PoseEstimate:
    return PoseEstimate(category, np.eye(3), np.zeros(3), 0.5, np.full(3, 0.1))


def test_check_inputs_returns_canonical_names_in_order():
    dets = [Detection("Mug", [1, 2, 10, 12]), Detection("bottle", [5, 5, 9, 9], np.ones((48, 64)))]
    assert check_inputs(RGB, dets, INTR, LOADED) == ["mug", "bottle"]
    assert check_inputs(RGB, [], INTR, LOADED) == []


@pytest.mark.parametrize(
    ("image", "det", "intrinsics", "error", "match"),
    [
        ([[0]], Detection("mug", [0, 0, 1, 1]), INTR, InputError, "numpy array"),
        (RGB.astype(np.float32), Detection("mug", [0, 0, 1, 1]), INTR, InputError, "uint8"),
        (RGB[..., 0], Detection("mug", [0, 0, 1, 1]), INTR, InputError, r"\[H x W x 3\]"),
        (RGB, Detection("mug", [0, 0, 1, 1]), INTR.K, InputError, "expected Intrinsics"),
        (RGB[:40], Detection("mug", [0, 0, 1, 1]), INTR, IntrinsicsError, "48 x 64"),
        (RGB, Detection("giraffe", [0, 0, 1, 1]), INTR, InputError, "detection 0: unknown"),
        (RGB, Detection("laptop", [0, 0, 1, 1]), INTR, InputError,
         "detection 0: no model for category 'laptop'; loaded: bottle, mug"),
        (RGB, Detection("mug", [0, 0, 1, 1], np.ones((5, 5), bool)), INTR, InputError,
         "detection 0 mask"),
    ],
)  # fmt: skip
def test_check_inputs_names_what_is_wrong(image, det, intrinsics, error, match):
    with pytest.raises(error, match=match):
        check_inputs(image, [det], intrinsics, LOADED)


def test_groups_keep_first_seen_category_order_and_increasing_indices():
    groups = group_by_category(["mug", "bottle", "mug", "laptop", "bottle", "mug"])
    assert list(groups.items()) == [("mug", [0, 2, 5]), ("bottle", [1, 4]), ("laptop", [3])]
    assert group_by_category([]) == {}


def test_estimates_go_back_to_their_detections_places_in_the_callers_spelling():
    dets = [Detection("Mug", [0, 0, 1, 1]), Detection("bottle", [0, 0, 1, 1]),
            Detection("MUG", [0, 0, 1, 1])]  # fmt: skip
    results: list = [None] * 3
    for name, ids in group_by_category(["mug", "bottle", "mug"]).items():
        place_estimates(results, ids, [_est(name) for _ in ids], dets)
    assert [r.category for r in results] == ["Mug", "bottle", "MUG"]


def test_a_failed_detection_stays_none_and_a_length_mismatch_is_refused():
    dets = [Detection("mug", [0, 0, 1, 1]), Detection("Mug", [0, 0, 1, 1])]
    results: list = [None] * 2
    place_estimates(results, [0, 1], [None, _est("mug")], dets)
    assert results[0] is None and results[1].category == "Mug"
    with pytest.raises(ValueError):
        place_estimates([None] * 2, [0, 1], [_est("mug")], dets)


def test_pose_estimate_defaults():
    est = _est("mug")
    assert est.timings == {} and est.batch == 1 and est.steps == 0
    assert not est.converged and np.isnan(est.loss)
    assert _est("mug").timings is not est.timings


def test_both_estimators_offer_the_contracts_call():
    from ros_pose_estimation.cse.estimator import CseEstimator
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    every = inspect.signature(Estimator.estimate).parameters
    contract = [n for n, p in every.items() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    by_name = {n: p.default for n, p in every.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert by_name == {"errors": "raise"}
    for cls, name, needs_depth in ((NemoEstimator, "nemo", False), (CseEstimator, "cse", True)):
        assert (cls.name, cls.needs_depth) == (name, needs_depth)
        params = inspect.signature(cls.estimate).parameters
        assert list(params)[: len(contract)] == contract, cls.__name__
        assert {n: params[n].default for n in by_name} == by_name, cls.__name__
        assert params["depth"].default is None
        assert all(p.default is not inspect.Parameter.empty
                   for p in list(params.values())[len(contract):])  # fmt: skip
        assert isinstance(inspect.getattr_static(cls, "categories"), property)
