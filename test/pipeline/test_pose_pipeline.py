"""PosePipeline: batching per estimator, isolation of bad detections, limits, tracking.

A fake estimator stands in for the models (the real ones are covered by the NeMo tests and the
node's end-to-end test)."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.errors import ConfigError, DepthError, InputError
from ros_pose_estimation.core.estimation import Detection, PoseEstimate
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.pose_pipeline import PosePipeline

INTR = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
RGB = np.zeros((48, 64, 3), np.uint8)


class FakeEstimator:
    """Pose = box centre at 1 m; raises for boxes starting left of x = 0 (``bad_x``)."""

    name = "fake"
    needs_depth = False

    def __init__(self, categories, score=0.8, needs_depth=False):
        self._categories = categories
        self.score = score
        self.needs_depth = needs_depth
        self.calls: list[int] = []

    @property
    def categories(self):
        return self._categories

    def estimate(self, rgb, detections, intrinsics, depth=None):
        self.calls.append(len(detections))
        if self.needs_depth and (depth is None or not np.any(depth > 0)):
            raise DepthError("no valid depth in the crop")
        out = []
        for det in detections:
            if det.box_xyxy[0] < 0:
                raise InputError("box outside the image")
            x = (det.box_xyxy[0] + det.box_xyxy[2]) / 2
            t = np.array([(x - intrinsics.cx) / intrinsics.fx, 0.0, 1.0])
            out.append(PoseEstimate(det.category, np.eye(3), t, self.score, np.full(3, 0.1),
                                    timings={"total": 4.0}))  # fmt: skip
        return out


def _det(category, x0):
    return Detection(category, np.array([x0, 10.0, x0 + 10.0, 20.0]))


def test_one_batch_per_estimator_and_results_in_detection_order():
    nemo = FakeEstimator(["mug", "bottle"])
    pipe = PosePipeline({"mug": nemo, "bottle": nemo})
    result = pipe.process(RGB, [_det("mug", 5), _det("bottle", 30), _det("mug", 50)], INTR, 1)
    assert nemo.calls == [3]
    assert [p.category for p in result.poses] == ["mug", "bottle", "mug"]
    assert len({p.track_id for p in result.poses}) == 3
    assert result.timings["total"] >= result.timings["estimate"] >= 0
    assert result.timings["fake.total"] == pytest.approx(4.0)


def test_bad_detection_is_isolated_and_counted():
    est = FakeEstimator(["mug"])
    pipe = PosePipeline({"mug": est})
    result = pipe.process(RGB, [_det("mug", 5), _det("mug", -3), _det("mug", 40)], INTR, 1)
    assert [round(p.t[0], 3) for p in result.poses] == [round((10 - 31.5) / 100, 3),
                                                       round((45 - 31.5) / 100, 3)]  # fmt: skip
    assert result.skipped["bad_input"] == 1
    assert "box outside the image" in result.errors[0]
    assert est.calls[0] == 3  # the whole batch was tried first


def test_unknown_category_max_objects_and_min_score():
    pipe = PosePipeline({"mug": FakeEstimator(["mug"], score=0.3)}, max_objects=2, min_score=0.5)
    result = pipe.process(RGB, [_det("can", 1), _det("mug", 5), _det("mug", 20), _det("mug", 40)],
                          INTR, 1)  # fmt: skip
    assert result.skipped["no_model"] == 1
    assert result.skipped["over_max_objects"] == 1
    assert result.skipped["low_score"] == 2
    assert result.poses == []


def test_a_category_threshold_adds_to_min_score_for_that_category_only():
    # scores of different models are not comparable: each category may need its own threshold
    pipe = PosePipeline({"mug": FakeEstimator(["mug"], score=0.6),
                         "can": FakeEstimator(["can"], score=0.6)},
                        min_score=0.5, category_min_score={"mug": 0.7})  # fmt: skip
    assert pipe.score_threshold("mug") == 0.7 and pipe.score_threshold("can") == 0.5
    result = pipe.process(RGB, [_det("mug", 5), _det("can", 20)], INTR, 1)
    assert [p.category for p in result.poses] == ["can"]
    assert result.skipped["low_score"] == 1
    pipe.update_settings(min_score=0.65)  # the global one above the can's score now
    assert pipe.score_threshold("can") == 0.65 and pipe.score_threshold("mug") == 0.7
    pipe.update_settings(min_score=0.0, category_min_score={"mug": 0.0})
    assert len(pipe.process(RGB, [_det("mug", 5), _det("can", 20)], INTR, 2).poses) == 2
    with pytest.raises(ConfigError, match=r"models.mug.min_score: expected a value in \[0, 1\]"):
        pipe.update_settings(category_min_score={"mug": 1.5})
    assert pipe.score_threshold("mug") == 0.0  # nothing changed


def test_depth_errors_are_counted_as_no_depth():
    pipe = PosePipeline({"mug": FakeEstimator(["mug"], needs_depth=True)})
    assert pipe.needs_depth
    result = pipe.process(RGB, [_det("mug", 5)], INTR, 1, depth=np.zeros((48, 64), np.float32))
    assert result.skipped["no_depth"] == 1 and not result.poses


def test_fusion_knows_which_categories_come_from_depth_models():
    pipe = PosePipeline({"mug": FakeEstimator(["mug"], needs_depth=True),
                         "bottle": FakeEstimator(["bottle"])})  # fmt: skip
    pipe.enable_fusion(WorldFusionConfig())
    assert pipe.fusion.depth_categories == {"mug"}


def test_tracks_keep_their_ids_across_frames_and_reset_forgets_them():
    pipe = PosePipeline({"mug": FakeEstimator(["mug"])})
    first = pipe.process(RGB, [_det("mug", 5), _det("mug", 40)], INTR, 1_000_000_000)
    second = pipe.process(RGB, [_det("mug", 41), _det("mug", 6)], INTR, 1_100_000_000)
    assert [p.track_id for p in second.poses] == [first.poses[1].track_id,
                                                  first.poses[0].track_id]  # fmt: skip
    pipe.reset()
    third = pipe.process(RGB, [_det("mug", 5)], INTR, 1_200_000_000)
    assert third.poses[0].track_id not in {p.track_id for p in first.poses}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_objects": 0}, "max_objects"), ({"min_score": 1.5}, "min_score")])
def test_bad_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PosePipeline({"mug": FakeEstimator(["mug"])}, **kwargs)


def test_cse_estimator_runs_directly_in_the_pipeline_and_needs_depth():
    from ros_pose_estimation.cse.estimator import CseEstimator
    from test.cse.oracle import mask_box, oracle_frame

    model, rgb, depth, mask, intr, _, t = oracle_frame("mug", 0)
    pipe = PosePipeline({"mug": CseEstimator({"mug": model})})
    assert pipe.needs_depth
    det = [Detection("mug", mask_box(mask), mask)]
    blind = pipe.process(rgb, det, intr, 1)
    assert blind.skipped["no_depth"] == 1 and not blind.poses
    assert "needs a depth image" in blind.errors[0]
    seen = pipe.process(rgb, det, intr, 2, depth=depth.astype(np.float32))
    assert len(seen.poses) == 1 and np.linalg.norm(seen.poses[0].raw.t - t) < 0.006
    assert {"cse.crop", "cse.solve", "cse.total"} <= set(seen.timings)


def test_world_fusion_is_off_until_enabled_then_fuses_the_tracked_poses():
    pipe = PosePipeline({"mug": FakeEstimator(["mug"])})
    result = pipe.process(RGB, [_det("mug", 5)], INTR, 1)
    assert result.fused is None and pipe.fusion is None
    with pytest.raises(ConfigError, match="not enabled"):
        pipe.fuse(result, 1, np.eye(4))
    pipe.enable_fusion(WorldFusionConfig())
    T = np.eye(4)
    T[:3, 3] = [1.0, 2.0, 0.0]  # the camera 1 m along x, 2 m along y in the fixed frame
    for stamp in (2, 3):
        result = pipe.process(RGB, [_det("mug", 5)], INTR, stamp)
        pipe.fuse(result, stamp, T)
    (fused,) = result.fused
    np.testing.assert_allclose(fused.t, result.poses[0].t + T[:3, 3])
    assert fused.track_id == result.poses[0].track_id and fused.samples == 2
    assert result.timings["fuse"] >= 0.0 and result.T_fixed_cam is not None
    pipe.update_settings(fusion=WorldFusionConfig(max_samples=1))
    assert pipe.fusion.config.max_samples == 1 and pipe.fusion.track_ids == [1]
    with pytest.raises(ConfigError, match="fusion.max_samples"):
        pipe.update_settings(fusion=WorldFusionConfig(max_samples=0))
    pipe.reset()
    assert pipe.fusion.track_ids == []
    pipe.enable_fusion(None)
    assert pipe.fusion is None


def test_up_reaches_only_the_estimators_that_use_it():
    class UpEstimator(FakeEstimator):
        uses_up = True

        def estimate(self, rgb, dets, intr, depth=None, up=None):
            self.up = up
            return super().estimate(rgb, dets, intr, depth)

    mug, bottle = UpEstimator(["mug"]), FakeEstimator(["bottle"])
    pipe = PosePipeline({"mug": mug, "bottle": bottle})
    up = np.array([0.0, -1.0, 0.0])
    result = pipe.process(RGB, [_det("mug", 5), _det("bottle", 30)], INTR, 1, up=up)
    assert len(result.poses) == 2 and mug.up is up
    pipe.process(RGB, [_det("mug", 5)], INTR, 2)
    assert mug.up is None


def test_warnings_of_published_estimates_are_collected_with_their_detection():
    class Warns(FakeEstimator):
        def estimate(self, rgb, detections, intrinsics, depth=None):
            out = super().estimate(rgb, detections, intrinsics, depth)
            out[1].warning = "2 of 40 object cells have depth: pose from the image"
            return out

    pipe = PosePipeline({"mug": Warns(["mug"])})
    result = pipe.process(RGB, [_det("mug", 5), _det("mug", 30)], INTR, 1)
    assert len(result.poses) == 2
    assert result.warnings == ["detection 1 (mug): 2 of 40 object cells have depth: pose from "
                               "the image"]  # fmt: skip
    assert not any(result.skipped.values())
