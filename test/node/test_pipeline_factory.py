"""Parameters -> pipeline pieces (no ROS graph), and the descriptors parameters get."""

from __future__ import annotations

import math

import pytest

from ros_pose_estimation.core.errors import ConfigError, PoseEstimationError
from ros_pose_estimation.node.params import PARAMS, find, tracking_params
from ros_pose_estimation.node.pipeline_factory import (
    build_pipeline,
    inference_threads,
    load_meshes,
    resolve_device,
    tracking_config,
    use_torch_threads,
)
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig


def values(**overrides):
    table = {p.name: p.default for p in PARAMS + tracking_params()}
    table.update(overrides)
    return table.__getitem__


def test_device_auto_and_explicit():
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("device", ["banana", "mps", "cuda:x", ""])
def test_a_device_that_is_not_cpu_or_cuda_is_refused_by_name(device):
    with pytest.raises(ConfigError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device(device)


def test_cuda_without_a_cuda_device_says_what_to_use():
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device: the error case cannot happen here")
    with pytest.raises(ConfigError, match="use device:=cpu or auto"):
        resolve_device("cuda:0")


def test_tracking_parameters_become_a_validated_config():
    assert tracking_config(values()) == TrackFilterConfig()
    jump_over_gate = values(**{"tracking.max_translation_jump_m": 5.0,
                               "tracking.gate_distance_m": 1.0})  # fmt: skip
    with pytest.raises(ConfigError, match="max_translation_jump_m"):
        tracking_config(jump_over_gate)
    assert tracking_config(values(**{"tracking.max_translation_jump_m": math.inf}))


def test_meshes_only_when_markers_or_overlay_draw_them():
    from ros_pose_estimation.pipeline.estimators import ModelSpec

    specs = [ModelSpec("mug", "models/nemo/mug.pt", "nemo", [])]
    assert load_meshes(values(marker_mesh=False, debug_image=False), specs) == {}
    assert set(load_meshes(values(marker_mesh=False, debug_image=True), specs)) == {"mug"}


def test_a_missing_checkpoint_fails_configure_with_its_name(tmp_path):
    missing = str(tmp_path / "nope.pt")
    value = values(device="cpu", categories=["mug"], **{
        "models.mug.checkpoint": missing, "models.mug.method": "nemo",
        "models.mug.class_ids": [""]})  # fmt: skip
    with pytest.raises(PoseEstimationError, match="nope.pt"):
        build_pipeline(value)


@pytest.mark.parametrize("cudnn", [False, True])
def test_cudnn_follows_the_parameter_on_cuda_only(monkeypatch, cudnn):
    import torch

    from ros_pose_estimation.node import pipeline_factory
    from ros_pose_estimation.pipeline import estimators

    monkeypatch.setattr(estimators, "load_estimators", lambda specs, device, *settings: {})
    monkeypatch.setattr(torch.backends.cudnn, "enabled", not cudnn)
    value = values(categories=[], cudnn=cudnn)
    monkeypatch.setattr(pipeline_factory, "resolve_device", lambda device: "cpu")
    build_pipeline(value)
    assert torch.backends.cudnn.enabled is (not cudnn)  # CPU: left as it was
    monkeypatch.setattr(pipeline_factory, "resolve_device", lambda device: "cuda:0")
    assert build_pipeline(value)[2] == "cuda:0"
    assert torch.backends.cudnn.enabled is cudnn


@pytest.mark.parametrize("requested", [0, 3])
def test_the_caller_runs_torch_on_one_thread_and_the_worker_on_num_threads(monkeypatch,
                                                                            requested):
    """GNU OpenMP gives each thread that runs parallel work a team: only the inference
    worker may run on several (the node's rate halved when the executor's thread had too)."""
    import threading

    import torch

    from ros_pose_estimation.node import pipeline_factory
    from ros_pose_estimation.pipeline import estimators

    monkeypatch.setattr(estimators, "load_estimators", lambda specs, device, *settings: {})
    monkeypatch.setattr(pipeline_factory, "_TORCH_DEFAULT_THREADS", None)
    before = torch.get_num_threads()
    try:
        build_pipeline(values(device="cpu", categories=[], num_threads=requested))
        assert torch.get_num_threads() == 1
        expected = requested or before  # 0: torch's count before the node changed it
        assert inference_threads(requested) == expected
        seen = []

        def worker_start():
            use_torch_threads(inference_threads(requested))
            seen.append(torch.get_num_threads())

        thread = threading.Thread(target=worker_start)
        thread.start()
        thread.join()
        assert seen == [expected]
        assert torch.get_num_threads() == 1  # each thread keeps its own count
    finally:
        torch.set_num_threads(before)


@pytest.mark.ros
def test_descriptors_carry_ranges_choices_and_types():
    try:
        from rcl_interfaces.msg import ParameterType
    except ImportError as exc:
        pytest.skip(f"rcl_interfaces not importable: {exc}")
    from ros_pose_estimation.node.node_params import descriptor

    slop = descriptor(find("slop"))
    assert (slop.floating_point_range[0].from_value, slop.floating_point_range[0].to_value) == (
        0.0, 10.0)  # fmt: skip
    queue = descriptor(find("queue_size")).integer_range[0]
    assert (queue.from_value, queue.to_value, queue.step) == (1, 1000, 1)
    mode = descriptor(find("mode"))
    assert mode.additional_constraints == "one of: rgb, rgbd"
    assert mode.description.endswith("(fixed while configured)") and not mode.read_only
    assert descriptor(find("categories")).type == ParameterType.PARAMETER_STRING_ARRAY
    assert not descriptor(find("slop")).description.endswith("(fixed while configured)")


@pytest.mark.parametrize("on", [False, True])
@pytest.mark.parametrize("method", ["nemo", "cse"])
@pytest.mark.parametrize(
    "name", ["view_correction", "upright", "stand_on_support", "solve_without_depth",
             "dark_objects"]
)
def test_estimator_switches_reach_the_estimator(on, method, name):
    value = values(device="cpu", categories=["mug"], mode="rgbd", **{
        name: on, "models.mug.checkpoint": f"models/{method}/mug.pt",
        "models.mug.method": method, "models.mug.class_ids": [""],
        "models.mug.min_score": 0.25})  # fmt: skip
    pipeline, _, _ = build_pipeline(value)
    assert pipeline.score_threshold("mug") == 0.25
    (estimator,) = set(pipeline.estimators.values())
    if name == "stand_on_support":  # the tabletop prior: CSE's surface, NeMo's gravity
        if method == "cse":
            assert estimator.config.upright_on_support is on
            assert estimator.config.laptop_on_surface is on
            assert estimator.config.stand_on_gravity is on
        else:
            assert estimator.config.stand_upright is on
        return
    cse_only = {"solve_without_depth": "image_pose", "dark_objects": "dark_surface_share"}
    if name in cse_only:  # CSE's image pose, dark objects; NeMo has none
        if method == "cse":
            got = getattr(estimator.config, cse_only[name])
            assert got == ({True: 0.7, False: 1.0}[on] if name == "dark_objects" else on)
        else:
            assert not hasattr(estimator.config, cse_only[name])
        return
    assert getattr(estimator.config, name) is on
