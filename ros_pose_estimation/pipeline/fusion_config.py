"""Settings of the world-frame fusion of static objects (:class:`~.world_fusion.WorldFusion`).

As :mod:`.track_config`: each field's meaning, unit and range are written once, in its
metadata; the node declares every field as the parameter ``fusion.<name>``
(:mod:`ros_pose_estimation.node.params`), and :meth:`WorldFusionConfig.validate` checks the
values. Pure python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ros_pose_estimation.core.errors import ConfigError


def _setting(default: float | int, doc: str, low: float, high: float):
    """A :class:`WorldFusionConfig` field: default, meaning (with units), allowed range."""
    return field(default=default, metadata={"doc": doc, "range": (low, high)})


@dataclass
class WorldFusionConfig:
    """Settings of :class:`~.world_fusion.WorldFusion`; each field's meaning and range are in
    its metadata (the node's ``fusion.*`` parameter table is built from them). A running
    fusion takes a new config with its state kept
    (:meth:`~.world_fusion.WorldFusion.reconfigure`)."""

    rotation_gate_deg: float = _setting(
        45.0,
        "an estimate whose rotation differs more (deg, after symmetry) from the fused pose is "
        "an outlier and not fused (180: no check)",
        0.1,
        180.0,
    )
    translation_gate_sigma: float = _setting(
        6.0,
        "an estimate whose centre is farther from the fused one than this many standard "
        "deviations (Mahalanobis: the estimate's scatter, translation_sigma_m across the "
        "viewing ray and depth_sigma_ratio along it, plus the fused centre's) is an outlier",
        0.5,
        1000.0,
    )
    reacquire_frames: int = _setting(
        3,
        "consecutive mutually consistent outliers (frames) after which the object is taken "
        "to have moved: the fused pose restarts from them (1: at once)",
        1,
        1000,
    )
    rotation_reacquire_frames: int = _setting(
        20,
        "the same for outliers by rotation only (centre in place): taken as turned in place "
        "after as many frames as the fused pose has inliers, at least reacquire_frames, at "
        "most this. A static object's estimates flip between similar-looking poses (a mug "
        "with its handle hidden) far more often than someone turns it in place",
        1,
        10000,
    )
    max_samples: int = _setting(
        100,
        "newest inlier estimates per object the fused pose is computed from (bounds the "
        "cost; the covariance stops shrinking there)",
        1,
        10000,
    )
    rotation_sigma_deg: float = _setting(
        8.0,
        "expected per-frame rotation error (deg): scale of the Huber weights and of the "
        "covariance's prior",
        0.01,
        180.0,
    )
    translation_sigma_m: float = _setting(
        0.02,
        "expected per-frame centre error across the viewing ray (m): scale of the Huber "
        "weights, of the gate and of the covariance's prior",
        0.0001,
        10.0,
    )
    depth_sigma_ratio: float = _setting(
        0.1,
        "expected per-frame centre error along the viewing ray, as a fraction of the distance "
        "(monocular RGB models: depth comes from the template's size; 0.1 = 10 percent; "
        "RGB-D models measure depth: ~0.02; 0: as across the ray). Views from several "
        "directions then triangulate the centre",
        0.0,
        10.0,
    )
    reidentify_s: float = _setting(
        30.0,
        "world-frame re-identification: a new track whose first estimate's centre passes the "
        "centre gate of a fused object of its category takes over that object's fused state "
        "(and its id) when the object's track ended less than this long ago (s) or is not in "
        "the frame (the camera-frame tracker starts new ids when a moving camera's estimates "
        "jump); 0: off",
        0.0,
        1e6,
    )
    score_temperature: float = _setting(
        0.0,
        "estimates weigh exp(score / score_temperature) in the rotation mean: higher-scoring "
        "views count more (scores compare within one model; 0: equal weights, the default: "
        "on five recorded sweeps and passes 0.01 fused worse than equal weights)",
        0.0,
        100.0,
    )
    score_top_k: int = _setting(
        5,
        "the score weights' reference is the k-th best score of the object's samples: the "
        "k best weigh 1 and the rest exp((score - reference) / score_temperature), so that no "
        "fewer than k views decide the rotation (1: the best view alone; on the demo bag, "
        "with gravity, one high-scoring view 17 deg off took the fused bottle from 4 to 16.5 "
        "deg)",
        1,
        10000,
    )
    rgbd_score_temperature: float = _setting(
        0.0,
        "score_temperature for the estimates of RGB-D (CSE) models, whose score (the share of "
        "cells that fit) does not rank rotations: a mug with its handle hidden fits best (on "
        "the demo bag 0.01 took the fused mug from 7.0 to 28.1 deg); 0: equal weights",
        0.0,
        100.0,
    )

    def validate(self) -> WorldFusionConfig:
        """Return ``self`` if every value is usable, else raise :class:`ConfigError` saying why."""
        for f in self.__dataclass_fields__.values():
            value = getattr(self, f.name)
            low, high = f.metadata["range"]
            is_int = isinstance(f.default, int)
            ok = isinstance(value, int if is_int else (int, float)) and not isinstance(value, bool)
            if not ok or (not is_int and math.isnan(value)) or not low <= value <= high:
                kind = "an integer" if is_int else "a number"
                raise ConfigError(f"fusion.{f.name}: expected {kind} in [{low}, {high}], "
                                  f"got {value!r}")  # fmt: skip
        return self
