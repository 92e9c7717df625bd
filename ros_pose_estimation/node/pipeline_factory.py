"""The node's parameters -> its
:class:`~ros_pose_estimation.pipeline.pose_pipeline.PosePipeline` (on configure).

No rclpy: ``value(name)`` is the node's checked parameter read. :func:`build_pipeline` resolves
the torch device, keeps the calling thread's torch work on one CPU thread
(:func:`inference_threads` gives the worker its count) and, on CUDA, whether cuDNN runs the
convolutions (``cudnn``; off by default: a batch size it has not seen costs 1.4-4.6 s of kernel
selection once, BENCHMARKS.md "GPU figures"), builds one
:class:`~ros_pose_estimation.pipeline.estimators.ModelSpec` per entry of ``categories``, loads
the estimators and the tracking filter's config; :func:`load_meshes` loads the categories' template
meshes when markers or the debug image draw them. torch and the models are imported on
configure, not when the node module is imported. Every failure is a
:class:`~ros_pose_estimation.core.errors.PoseEstimationError` saying why (configure fails with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig

if TYPE_CHECKING:
    from ros_pose_estimation.pipeline.estimators import ModelSpec
    from ros_pose_estimation.pipeline.pose_pipeline import PosePipeline

#: The node's checked parameter read: name -> value.
Value = Callable[[str], Any]


def resolve_device(device: str) -> str:
    """The ``device`` parameter -> a torch device: ``auto`` is ``cuda`` when torch sees a CUDA
    device, else ``cpu``; ``cuda*`` without one, or anything but ``cpu`` / ``cuda[:N]``, raises
    :class:`ConfigError`."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise ConfigError(f"device {device!r} is not a torch device this node runs on; use "
                          "auto, cpu, cuda or cuda:N")  # fmt: skip
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device; "
                          "use device:=cpu or auto")  # fmt: skip
    return device


#: torch's intra-op thread count as this module first read it, before setting any (torch's
#: default: the cores, or OMP_NUM_THREADS).
_TORCH_DEFAULT_THREADS: int | None = None


def inference_threads(requested: int) -> int:
    """The torch CPU threads of the thread that runs inference: ``requested`` (the
    ``num_threads`` parameter), or torch's default when 0.

    Only that thread should run torch on more than one. torch's CPU kernels run on GNU OpenMP,
    which gives every thread that starts parallel work a team of its own; once the teams'
    threads outnumber the cores, libgomp's waiting threads spin only briefly before they sleep,
    and waking them for each small operation costs more than the second thread saves. The
    node loaded its models with two threads in the executor's thread and ran them with two in
    its worker: on a 2-core machine that halved its rate (BENCHMARKS.md, "The node's inference
    thread"). So :func:`build_pipeline` runs the caller's (the executor's) torch work on one
    thread, and the node's worker takes this count when it starts.
    """
    import torch

    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    return requested or _TORCH_DEFAULT_THREADS


def use_torch_threads(n: int) -> None:
    """``torch.set_num_threads(n)`` for the calling thread (the worker's ``on_start``)."""
    import torch

    torch.set_num_threads(n)


def tracking_config(value: Value) -> TrackFilterConfig:
    """The ``tracking.*`` parameters as a validated :class:`TrackFilterConfig` (ConfigError
    naming the field when they do not fit together)."""
    values = {f.name: value(f"tracking.{f.name}") for f in fields(TrackFilterConfig)}
    config = TrackFilterConfig(**values)
    config.validate()
    return config


def fusion_config(value: Value) -> WorldFusionConfig:
    """The ``fusion.*`` parameters as a validated :class:`WorldFusionConfig`."""
    values = {f.name: value(f"fusion.{f.name}") for f in fields(WorldFusionConfig)}
    return WorldFusionConfig(**values).validate()


def build_pipeline(value: Value) -> tuple[PosePipeline, list[ModelSpec], str]:
    """Load the models the parameters name.

    Returns:
        ``(pipeline, specs, device)``: the pipeline, one spec per category (in ``categories``
        order; ``class_ids`` without empty entries), the torch device it runs on.

    Raises:
        PoseEstimationError: bad device, missing / corrupt / wrong checkpoint, bad tracking
            parameters.
    """
    import torch

    from ros_pose_estimation.pipeline.estimators import ModelSpec, load_estimators
    from ros_pose_estimation.pipeline.pose_pipeline import PosePipeline

    device = resolve_device(value("device"))
    inference_threads(value("num_threads"))  # torch's default, read before it is changed
    torch.set_num_threads(1)  # this thread's; the worker takes inference_threads(...)
    if device.startswith("cuda"):
        torch.backends.cudnn.enabled = bool(value("cudnn"))
    specs = []
    for category in value("categories"):
        ids = [c for c in value(f"models.{category}.class_ids") if c]
        specs.append(ModelSpec(
            category, value(f"models.{category}.checkpoint"),
            value(f"models.{category}.method"), ids,
        ))  # fmt: skip
    estimators = load_estimators(specs, device, value("preset"), value("view_correction"),
                                 value("upright"), value("stand_on_support"),
                                 value("solve_without_depth"), value("dark_objects"))  # fmt: skip
    pipeline = PosePipeline(
        estimators, value("max_objects"), value("min_score"), tracking_config(value),
        category_min_score(value, [spec.category for spec in specs]),
    )  # fmt: skip
    return pipeline, specs, device


def category_min_score(value: Value, categories: list[str]) -> dict[str, float]:
    """Category -> its ``models.<category>.min_score``."""
    return {c: value(f"models.{c}.min_score") for c in categories}


def load_meshes(value: Value, specs) -> dict:
    """Category -> template mesh, or ``{}`` when neither ``marker_mesh`` nor ``debug_image``
    draws them."""
    if not value("marker_mesh") and not value("debug_image"):
        return {}
    from ros_pose_estimation.shapes import template_mesh

    return {s.category: template_mesh(s.category) for s in specs}
