"""Every parameter of ``pose_estimation_node`` in one table: type, default, description,
range, and whether it may change while the node runs.

Pure python (no rclpy): the node turns each :class:`Param` into a declaration with a
``ParameterDescriptor``; tests check the table against ``config/pose.yaml`` and the launch file.
Per-category parameters (``models.<category>.*``) are declared for every entry of ``categories``
from :data:`MODEL_PARAMS`.

Read-only parameters (models, device, mode, topics' kind) are fixed after configure: changing
one at run time is refused with the reason; reconfigure the node (cleanup + configure) instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.tracking import TrackFilterConfig


@dataclass(frozen=True)
class Param:
    """One parameter.

    Attributes:
        name: dotted ROS parameter name.
        default: default value; its type is the parameter's type (bool, int, float, str,
            list[str]).
        description: what it does, with units.
        low, high: inclusive numeric range (None: unbounded).
        choices: allowed string values (None: any).
        read_only: fixed once the node is configured.
        allow_inf: ``.inf`` is a valid value (a check disabled).
    """

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    read_only: bool = False
    allow_inf: bool = False

    @property
    def kind(self) -> type:
        return list if isinstance(self.default, list) else type(self.default)

    def check(self, value: Any) -> Any:
        """``value`` converted to the parameter's type, or :class:`ConfigError` saying why not."""
        kind = self.kind
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{self.name}: expected true/false, got {value!r}")
        elif kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{self.name}: expected a number, got {value!r}")
            if kind is int and int(value) != value:
                raise ConfigError(f"{self.name}: expected an integer, got {value!r}")
            value = kind(value)
            if math.isnan(value) or (math.isinf(value) and not self.allow_inf):
                raise ConfigError(f"{self.name}: expected a finite number, got {value!r}")
            if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high
            ):
                raise ConfigError(
                    f"{self.name}: {value} is outside the allowed range [{self.low}, {self.high}]"
                )
        elif kind is str:
            if not isinstance(value, str):
                raise ConfigError(f"{self.name}: expected a string, got {value!r}")
            if self.choices is not None and value not in self.choices:
                raise ConfigError(
                    f"{self.name}: expected one of {', '.join(self.choices)}, got {value!r}"
                )
        elif kind is list:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{self.name}: expected a list of strings, got {value!r}")
            value = list(value)
        return value


def _p(*args, **kwargs) -> Param:
    return Param(*args, **kwargs)


#: Node parameters (not per category), in the order config/pose.yaml documents them.
PARAMS: tuple[Param, ...] = (
    _p("mode", "rgb", "rgb: colour + detections (NeMo models); rgbd: also the aligned depth "
       "image (needed by cse models, used for nothing else)", choices=("rgb", "rgbd"),
       read_only=True),
    _p("device", "auto", "torch device: auto (cuda when available, else cpu), cpu, cuda, "
       "cuda:N", read_only=True),
    _p("categories", ["mug"], "categories to estimate; each needs models.<category>.checkpoint",
       read_only=True),
    _p("preset", "default", "NeMo inference preset: default (fast), fast (CPU robots), "
       "reference (the published 144-pose, 300-step schedule)",
       choices=("default", "fast", "reference"), read_only=True),
    _p("num_threads", 0, "torch CPU threads for inference (0: torch's default)", low=0, high=256,
       read_only=True),
    _p("autostart", True, "configure and activate the lifecycle node on start-up (false: wait "
       "for a lifecycle manager)", read_only=True),
    _p("use_compressed", False, "subscribe to <image>/compressed (sensor_msgs/CompressedImage) "
       "instead of the raw image", read_only=True),
    _p("input_qos", "auto", "QoS of the input subscriptions: auto (per topic reliable while "
       "every publisher is reliable, best effort once one is best effort), reliable, "
       "sensor_data (best effort: large images get lost under load), system_default (the "
       "RMW's)", choices=("auto", "reliable", "sensor_data", "system_default"), read_only=True),
    _p("mask_input", False, "subscribe to `mask` (sensor_msgs/Image instance labels: 0 "
       "background, k > 0 instance k; mono8/mono16/16UC1/32SC1, aligned to the image) instead "
       "of `detections`; every instance is of `mask_category`", read_only=True),
    _p("mask_category", "", "category of the instances of `mask` (one of `categories`); "
       "needed with mask_input", read_only=True),
    _p("min_mask_pixels", 20, "mask instances with fewer pixels are skipped (counted)", low=1,
       high=10_000_000),
    _p("sync_backend", "auto", "time synchroniser: auto (message_filters when installed, else "
       "the built-in one with the same semantics), message_filters, builtin",
       choices=("auto", "message_filters", "builtin"), read_only=True),
    _p("queue_size", 10, "messages kept per input by the time synchroniser", low=1, high=1000),
    _p("slop", 0.05, "largest stamp difference of a synchronised set (s)", low=0.0, high=10.0),
    _p("exact_sync", False, "require identical stamps (message_filters.TimeSynchronizer)"),
    _p("max_objects", 20, "detections estimated per frame at most (the rest are skipped and "
       "counted): bounds latency and memory", low=1, high=1000),
    _p("min_score", 0.0, "estimates with a lower score are not published (score: mean "
       "feature cosine similarity of the rendered model, see README)", low=0.0, high=1.0),
    _p("publish_tf", True, "broadcast <tf_prefix><class>_<track id> on /tf, parent = the "
       "camera optical frame, stamp = the image stamp"),
    _p("tf_prefix", "", "prefix of the objects' TF child frame names"),
    _p("marker_lifetime", 0.5, "lifetime of the RViz markers (s); 0 = until the next "
       "DELETEALL (sent with every frame)", low=0.0, high=60.0),
    _p("marker_mesh", True, "draw the category mesh (false: the estimated box)"),
    _p("debug_image", True, "publish ~/debug_image (axes, mesh outline) when someone "
       "subscribes"),
    _p("camera_info_timeout", 5.0, "warn when no camera_info has arrived this long after the "
       "first image (s)", low=0.1, high=3600.0),
    _p("diagnostics_period", 1.0, "period of /diagnostics (s)", low=0.1, high=60.0),
    _p("stats_window", 10.0, "window of the rate and latency statistics (s)", low=1.0,
       high=3600.0),
    _p("time_jump_reset", 1.0, "a frame this much (s) older than the previous one means "
       "time jumped back (bag loop, sim reset): tracks and queues are reset", low=0.0,
       high=3600.0),
)

#: Per-category parameters, declared as ``models.<category>.<name>``.
MODEL_PARAMS: tuple[Param, ...] = (
    _p("checkpoint", "", "model file (.pt) of the category", read_only=True),
    _p("method", "nemo", "nemo (RGB render-and-compare) or cse (RGB-D surface embedding)",
       choices=("nemo", "cse"), read_only=True),
    _p("class_ids", [""], "detector class ids mapped to this category (['']: the category "
       "name)", read_only=True),
)


def model_param(category: str, name: str) -> Param:
    """The :data:`MODEL_PARAMS` entry ``name`` for ``category`` (dotted full name)."""
    for param in MODEL_PARAMS:
        if param.name == name:
            return Param(f"models.{category}.{name}", param.default, param.description,
                         param.low, param.high, param.choices, param.read_only)  # fmt: skip
    raise KeyError(name)


def find(name: str) -> Param:
    for param in PARAMS:
        if param.name == name:
            return param
    raise KeyError(name)


def tracking_params() -> tuple[Param, ...]:
    """``tracking.<field>`` parameters, one per :class:`TrackFilterConfig` field (its default;
    :class:`TrackFilterConfig` documents each and validates them together on configure)."""
    return tuple(
        Param(f"tracking.{f.name}", f.default, _TRACKING_DOCS[f.name], *_TRACKING_RANGES[f.name],
              allow_inf=f.name in ("max_translation_jump_m", "max_rotation_jump_deg"))
        for f in fields(TrackFilterConfig)
    )  # fmt: skip


_TRACKING_DOCS = {
    "gate_distance_m": "largest centre distance (m) at which an estimate joins a track",
    "max_translation_jump_m": "an associated estimate jumping farther (m) is an outlier "
    "(.inf: no check; must be below gate_distance_m)",
    "max_rotation_jump_deg": "an associated estimate rotating more (deg, after symmetry) is an "
    "outlier (.inf: no check)",
    "patience": "consecutive consistent outliers (frames) after which the track re-acquires",
    "translation_weight": "weight of a new estimate in the translation/size average (1: none)",
    "rotation_weight": "weight of a new estimate in the rotation slerp (1: no smoothing)",
    "max_age_s": "a track unseen for longer (s) is dropped",
    "max_gap_s": "an estimate this long (s) after its track's previous one re-acquires the "
    "track (same id, no outlier test or averaging: the camera may have moved)",
    "min_score": "estimates with a lower score are published unfiltered and start no track",
    "covariance_min_samples": "residuals collected before a pose covariance is reported",
    "covariance_window": "newest residuals the pose covariance is computed from",
}
_TRACKING_RANGES = {
    "gate_distance_m": (0.001, 100.0),
    "max_translation_jump_m": (0.001, None),
    "max_rotation_jump_deg": (0.1, None),
    "patience": (1, 1000),
    "translation_weight": (0.001, 1.0),
    "rotation_weight": (0.001, 1.0),
    "max_age_s": (0.01, 3600.0),
    "max_gap_s": (0.001, 3600.0),
    "min_score": (0.0, 1.0),
    "covariance_min_samples": (2, 10000),
    "covariance_window": (2, 10000),
}


def flat_parameters(tree: dict, prefix: str = "") -> dict:
    """A parameters file's nested ``ros__parameters`` -> ``{"models.mug.checkpoint": ...}``
    (dotted names, as ROS 2 declares them)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flat_parameters(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parameter_reader(values: dict):
    """``name -> value`` over dotted ``values`` (e.g. :func:`flat_parameters` of a file) with
    the table's defaults and checks: what the node's ``value`` gives, without ROS (benchmarks,
    tools). Raises ConfigError for a value out of its range, KeyError for an unknown name."""
    table = {p.name: p for p in PARAMS + tracking_params()}

    def value(name: str):
        if name.startswith("models."):
            _, category, leaf = name.split(".")
            param = model_param(category, leaf)
        else:
            param = table[name]
        return param.check(values.get(name, param.default))

    return value
