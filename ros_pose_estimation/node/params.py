"""Every parameter of ``pose_estimation_node`` in one table: type, default, description,
range, and when a value takes effect.

Pure python (no rclpy): the node turns each :class:`Param` into a declaration with a
``ParameterDescriptor``; tests check the table against ``config/pose.yaml`` and the launch file.
Per-category parameters (``models.<category>.*``) are declared for every entry of ``categories``
from :data:`MODEL_PARAMS`; ``tracking.*`` come from the fields of
:class:`~ros_pose_estimation.pipeline.track_config.TrackFilterConfig`.

When a parameter applies (:attr:`Param.applies`, one of :data:`APPLIES`):

* ``configure``: read when the node configures (models, device, mode, what the input is);
  a change is refused while the node is configured, with the reason: cleanup, set, configure.
* ``activate``: read when the node activates (how the inputs are subscribed); a change is
  refused while the node is active: deactivate, set, activate.
* ``live``: a change takes effect at once: the next frame uses it, or the node rebuilds what
  depends on it (the time synchroniser, the diagnostics timer, the statistics window, the
  tracking filter's and the fusion's settings with their state kept, ``~/label_info``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig
from ros_pose_estimation.pipeline.track_config import TrackFilterConfig


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
        applies: when a new value takes effect (:data:`APPLIES`, module docstring).
        allow_inf: ``.inf`` is a valid value (a check disabled).
    """

    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    applies: str = "live"
    allow_inf: bool = False

    def __post_init__(self) -> None:
        if self.applies not in APPLIES:
            raise ValueError(f"{self.name}: applies must be one of {APPLIES}, got {self.applies}")

    @property
    def read_only(self) -> bool:
        """Fixed while the node is configured (``applies == "configure"``)."""
        return self.applies == "configure"

    def refusal(self, configured: bool, active: bool) -> str | None:
        """Why a change is refused in the node's state, None when it is accepted."""
        if self.applies == "configure" and configured:
            return (f"{self.name} is read on configure (models, device and inputs are set up "
                    "from it) and fixed while the node is configured: deactivate + cleanup, "
                    "set it, configure")  # fmt: skip
        if self.applies == "activate" and active:
            return (f"{self.name} is read on activate (the input subscriptions are made from "
                    "it) and fixed while the node is active: deactivate, set it, activate")
        return None

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


#: When a parameter's new value takes effect (module docstring).
APPLIES = ("configure", "activate", "live")


def _p(*args, **kwargs) -> Param:
    return Param(*args, **kwargs)


#: Node parameters (not per category), in the order config/pose.yaml documents them.
PARAMS: tuple[Param, ...] = (
    _p("mode", "rgb", "rgb: colour + detections (NeMo models); rgbd: also the aligned depth "
       "image (needed by cse models, used for nothing else)", choices=("rgb", "rgbd"),
       applies="configure"),
    _p("device", "auto", "torch device: auto (cuda when available, else cpu), cpu, cuda, "
       "cuda:N", applies="configure"),
    _p("categories", ["mug"], "categories to estimate; each needs models.<category>.checkpoint",
       applies="configure"),
    _p("preset", "default", "NeMo inference preset: default (fast), fast (CPU robots), "
       "reference (the published 144-pose, 300-step schedule)",
       choices=("default", "fast", "reference"), applies="configure"),
    _p("view_correction", True, "turn each rotation (NeMo, CSE) and move each box centre (CSE) "
       "by the viewpoint bias correction its checkpoint carries (fitted on synthetic views by "
       "calibrate-nemo / calibrate-cse; false: the raw estimate)", applies="configure"),
    _p("upright", True, "look at an object that stands rolled in the image (NeMo: by more "
       "than 15 deg, CSE: 25 deg) through the camera turned about its axis so that it stands "
       "upright: by gravity when up_frame (or fixed_frame) is set, one look; else by a first "
       "look, a second estimate for those objects only (a camera mounted with a roll)",
       applies="configure"),
    _p("stand_on_support", True, "stand an object whose up axis is within 15 deg (RGB-D; RGB: "
       "25 deg) of the up direction upright on it: RGB-D (CSE) the normal of the surface "
       "around it (and a laptop's up axis from it where one slab is seen), both gravity when "
       "up_frame or fixed_frame gives it (a tabletop prior; false where objects lean on "
       "purpose: piles, bins, hand-held)", applies="configure"),
    _p("solve_without_depth", True, "RGB-D (CSE): when too few of an object's confident "
       "pixels have depth (black or glossy surfaces, beyond the sensor's range), solve its pose "
       "from the image (PnP) scaled by the depth there is, and warn; false: skip it",
       applies="configure"),
    _p("dark_objects", False, "RGB-D (CSE), box-only detections: when 70 % of a box's depth "
       "lies on the surface around it, take its holes and what stands up as the object (a "
       "dark or glossy object the sensor did not see) and solve it from the image (off: on "
       "ordinary scenes it takes a few objects for dark ones)", applies="configure"),
    _p("num_threads", 0, "torch CPU threads of the inference thread (0: torch's default, the "
       "cores); the executor's thread runs torch on one", low=0, high=256, applies="configure"),
    _p("cudnn", False, "on CUDA, run the networks' convolutions through cuDNN (false: torch's "
       "own kernels; cuDNN selects and loads kernels for every new number of detections, "
       "stalling the first such frame by 1.4-4.6 s on an H200)", applies="configure"),
    _p("autostart", True, "configure and activate the lifecycle node on start-up (false: wait "
       "for a lifecycle manager)", applies="configure"),
    _p("use_compressed", False, "subscribe to <image>/compressed (sensor_msgs/CompressedImage) "
       "instead of the raw image", applies="activate"),
    _p("input_qos", "auto", "QoS of the input subscriptions: auto (per topic reliable while "
       "every publisher is reliable, best effort once one is best effort), reliable, "
       "sensor_data (best effort: large images get lost under load), system_default (the "
       "RMW's)", choices=("auto", "reliable", "sensor_data", "system_default"),
       applies="activate"),
    _p("mask_input", False, "subscribe to `mask` (sensor_msgs/Image instance labels: 0 "
       "background, k > 0 instance k; mono8/mono16/16UC1/32SC1, aligned to the image) instead "
       "of `detections`; every instance is of `mask_category`", applies="configure"),
    _p("mask_category", "", "category of the instances of `mask` (one of `categories`); "
       "needed with mask_input", applies="configure"),
    _p("min_mask_pixels", 20, "mask instances with fewer pixels are skipped (counted)", low=1,
       high=10_000_000),
    _p("sync_backend", "auto", "time synchroniser: auto (message_filters when installed, else "
       "the built-in one with the same semantics), message_filters, builtin",
       choices=("auto", "message_filters", "builtin"), applies="activate"),
    _p("queue_size", 10, "messages kept per input by the time synchroniser", low=1, high=1000),
    _p("slop", 0.05, "largest stamp difference of a synchronised set (s)", low=0.0, high=10.0),
    _p("exact_sync", False, "require identical stamps (message_filters.TimeSynchronizer)"),
    _p("max_objects", 20, "detections estimated per frame at most (the rest are skipped and "
       "counted): bounds latency and memory", low=1, high=1000),
    _p("min_score", 0.0, "estimates with a lower score are not published (score: mean "
       "feature cosine similarity of the rendered model, see README)", low=0.0, high=1.0),
    _p("publish_tf", True, "broadcast <tf_prefix><class>_<track id> on /tf, parent = the "
       "camera optical frame (with fixed_frame: the fixed frame, fused poses), stamp = the "
       "image stamp"),
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
    _p("fixed_frame", "", "world-frame fusion of static objects: a fixed TF frame (odom, "
       "map...; '' = off). Each track's estimates are fused there; ~/detections and /tf carry "
       "the fused poses in this frame, ~/detections_per_frame the per-frame ones",
       applies="activate"),
    _p("fixed_frame_timeout", 0.05, "how long (s) a frame waits for the camera's transform "
       "into fixed_frame (and up_frame) at the image stamp; without it the frame is published "
       "unfused (estimated without gravity)", low=0.0, high=10.0),
    _p("up_frame", "", "a TF frame whose +z points up (base_link, odom, map...): the models "
       "turn a rolled camera upright by it, one look per object, instead of by a first look, "
       "and (stand_on_support) stand RGB objects upright on it ('' = fixed_frame when set, "
       "else no gravity)", applies="activate"),
    _p("time_jump_reset", 1.0, "a frame this much (s) older than the previous one means "
       "time jumped back (bag loop, sim reset): tracks and queues are reset", low=0.0,
       high=3600.0),
)

#: Per-category parameters, declared as ``models.<category>.<name>``.
MODEL_PARAMS: tuple[Param, ...] = (
    _p("checkpoint", "", "model file (.pt) of the category", applies="configure"),
    _p("method", "nemo", "nemo (RGB render-and-compare) or cse (RGB-D surface embedding)",
       choices=("nemo", "cse"), applies="configure"),
    _p("class_ids", [""], "detector class ids mapped to this category (['']: the category "
       "name)", applies="configure"),
    _p("min_score", 0.0, "this category's own score threshold on top of min_score: its "
       "estimates are published when their score reaches the larger of the two (scores are "
       "not comparable across models)", low=0.0, high=1.0),
)


def model_param(category: str, name: str) -> Param:
    """The :data:`MODEL_PARAMS` entry ``name`` for ``category`` (dotted full name)."""
    for param in MODEL_PARAMS:
        if param.name == name:
            return Param(f"models.{category}.{name}", param.default, param.description,
                         param.low, param.high, param.choices, param.applies)  # fmt: skip
    raise KeyError(name)


def find(name: str) -> Param:
    for param in PARAMS:
        if param.name == name:
            return param
    raise KeyError(name)


def tracking_params() -> tuple[Param, ...]:
    """``tracking.<field>`` parameters, one per :class:`TrackFilterConfig` field, with the
    field's default, description and range (its metadata); live: a change reconfigures the
    running filter (the fields are checked together, a bad combination is refused)."""
    return tuple(
        Param(f"tracking.{f.name}", f.default, f.metadata["doc"], *f.metadata["range"],
              allow_inf=f.name in ("max_translation_jump_m", "max_rotation_jump_deg",
                                   "follow_speed_m_s", "follow_speed_deg_s"))
        for f in fields(TrackFilterConfig)
    )  # fmt: skip


def fusion_params() -> tuple[Param, ...]:
    """``fusion.<field>`` parameters, one per :class:`WorldFusionConfig` field (its default,
    description and range); live: a change reconfigures the running fusion, state kept."""
    return tuple(
        Param(f"fusion.{f.name}", f.default, f.metadata["doc"], *f.metadata["range"])
        for f in fields(WorldFusionConfig)
    )


def group_params() -> tuple[Param, ...]:
    """The grouped parameters built from config dataclasses: ``tracking.*`` and ``fusion.*``."""
    return tracking_params() + fusion_params()


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
    table = {p.name: p for p in PARAMS + group_params()}

    def value(name: str):
        if name.startswith("models."):
            _, category, leaf = name.split(".")
            param = model_param(category, leaf)
        else:
            param = table[name]
        return param.check(values.get(name, param.default))

    return value
