"""TF-consensus pose pseudo-labels from an RGB model's per-frame estimates (no depth).

A static object seen by a camera whose pose in a fixed frame is known from ``/tf`` has one pose
``T_fixed_obj``; an RGB model estimates it in every frame (``T_cam_obj``), each time with its own
error. Offline, with **all** frames of a recording at hand (not causal, unlike the node's
:class:`~ros_pose_estimation.pipeline.world_fusion.WorldFusion`), per object:

1. **to the fixed frame**: ``R_i = R_fixed_cam R_cam_obj``, ``t_i = T_fixed_cam t_cam_obj``;
   each centre is trusted to ``translation_sigma_m`` across its viewing ray and to
   ``depth_sigma_ratio`` of its distance along it (monocular depth comes from the template's
   size, so an instance larger than the template reads farther away in every view).
2. **rotation seed** (outliers such as 180-degree flips can be many): every estimate of up to
   ``max_seeds`` evenly spaced ones is a candidate; the one with the most estimates within
   ``rotation_gate_deg`` (symmetry-aware, counted, not weighted) wins.
3. **robust means** of the estimates within the gates of the current pose, from the seed
   (:func:`~ros_pose_estimation.core.rotation_averaging.robust_mean`, Huber scale
   ``1.5 rotation_sigma_deg``, each estimate also weighing ``exp(score /
   score_temperature)``; :func:`~ros_pose_estimation.core.point_averaging.robust_ray_mean`:
   views from several directions triangulate the centre).
4. **outlier rejection**: estimates farther than ``rotation_gate_deg`` from the mean, or whose
   centre is more than ``translation_gate_sigma`` sigmas (Mahalanobis, the estimate's
   covariance) away, are outliers: they take no part in the means (hard gates, so that
   far-off estimates cannot drag the mean, whatever their score); steps 3-4 repeat 3 times.
5. **size**: each inlier's size rescaled by (true distance / its estimated distance), median:
   the triangulated centre gives the distance the monocular estimate got wrong.
6. **carried back**: every frame's label ``T_cam_obj = inv(T_fixed_cam) T_fixed_obj``
   (:meth:`Consensus.labels_in_camera`), also in the frames whose own estimate was an outlier.

Confidence: ``inlier_fraction``, the spread of the inliers (``rotation_spread_deg``: their RMS
angle to the mean) and the mean's standard errors. An object is ``accepted`` with at least
``min_inliers`` inliers making at least ``min_inlier_fraction`` of its estimates.

:func:`group_estimates` says which estimates are the same object (same category, centres
close in the fixed frame, then groups merged by their triangulated centres). Pure numpy /
scipy; poses ``[4 x 4]`` (``T_parent_child``), metres, rotations ``[3 x 3]`` model -> parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.point_averaging import robust_ray_mean
from ros_pose_estimation.core.rotation_averaging import align, robust_mean
from ros_pose_estimation.core.so3 import geodesic_angles

#: Huber threshold of the robust means, in sigmas (as :mod:`ros_pose_estimation.pipeline.
#: fusion_state`).
HUBER_K = 1.5


@dataclass(frozen=True)
class ConsensusConfig:
    """Settings of :func:`consensus` (angles in degrees, lengths in metres)."""

    rotation_gate_deg: float = 30.0
    rotation_sigma_deg: float = 8.0
    translation_sigma_m: float = 0.02
    depth_sigma_ratio: float = 0.1
    translation_gate_sigma: float = 4.0
    score_temperature: float = 0.03
    min_inliers: int = 5
    min_inlier_fraction: float = 0.3
    max_seeds: int = 64
    iterations: int = 10
    group_gate_m: float = 0.25

    def validate(self) -> ConsensusConfig:
        """``self`` if usable, else :class:`ConfigError` naming the setting."""
        for name in ("rotation_gate_deg", "rotation_sigma_deg", "translation_sigma_m",
                     "translation_gate_sigma", "group_gate_m"):  # fmt: skip
            if not getattr(self, name) > 0:
                raise ConfigError(f"tf_consensus.{name}: expected > 0, got {getattr(self, name)}")
        if self.depth_sigma_ratio < 0 or self.score_temperature < 0:
            raise ConfigError("tf_consensus: depth_sigma_ratio and score_temperature must be >= 0")
        if self.min_inliers < 1 or self.max_seeds < 1 or self.iterations < 1:
            raise ConfigError("tf_consensus: min_inliers, max_seeds, iterations must be >= 1")
        if not 0 <= self.min_inlier_fraction <= 1:
            raise ConfigError("tf_consensus.min_inlier_fraction: expected [0, 1]")
        return self


@dataclass
class Consensus:
    """One object's consensus pose and its quality (``N``: its estimates).

    Attributes:
        category; T_fixed_obj: ``[4 x 4]``; size: ``[3]`` extents (m, depth-corrected).
        inliers: ``[N]`` bool; rotation_error_deg: ``[N]`` each estimate's symmetry-aware angle
            to the consensus; centre_sigma: ``[N]`` its centre's Mahalanobis distance (sigmas).
        inlier_fraction, rotation_spread_deg (RMS inlier angle), rotation_std_deg /
        centre_std_m (standard errors of the means); accepted, reason (why not).
    """

    category: str
    T_fixed_obj: np.ndarray
    size: np.ndarray
    inliers: np.ndarray
    rotation_error_deg: np.ndarray
    centre_sigma: np.ndarray
    inlier_fraction: float
    rotation_spread_deg: float
    rotation_std_deg: float
    centre_std_m: float
    accepted: bool
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def labels_in_camera(self, T_fixed_cam) -> np.ndarray:
        """``[M x 4 x 4]`` labels ``inv(T_fixed_cam_j) T_fixed_obj`` for camera poses
        ``[M x 4 x 4]`` (the frames' camera frames)."""
        T = _check_poses(T_fixed_cam, "T_fixed_cam")
        return np.linalg.inv(T) @ self.T_fixed_obj

    def summary(self) -> dict:
        """JSON-ready confidence figures."""
        return {"category": self.category, "accepted": self.accepted, "reason": self.reason,
                "estimates": int(len(self.inliers)), "inliers": int(self.inliers.sum()),
                "inlier_fraction": self.inlier_fraction,
                "rotation_spread_deg": self.rotation_spread_deg,
                "rotation_std_deg": self.rotation_std_deg, "centre_std_m": self.centre_std_m,
                "size": self.size.tolist()}  # fmt: skip


def _check_poses(T, name: str) -> np.ndarray:
    arr = np.asarray(T, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (4, 4) or not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: expected finite [N x 4 x 4], got shape {arr.shape}")
    return arr


def _angles_to(ref: np.ndarray, rots: np.ndarray, category) -> np.ndarray:
    """``[N]`` symmetry-aware angles (rad) from ``ref`` to each of ``rots``."""
    return geodesic_angles(ref, align(ref, rots, category))


def _seed(rots: np.ndarray, category, gate: float, max_seeds: int):
    """The candidate rotation with the most estimates within ``gate`` (not weighted by score:
    one confident wrong estimate must not outvote many agreeing ones)."""
    picks = np.unique(np.linspace(0, len(rots) - 1, min(max_seeds, len(rots))).round().astype(int))
    support = [int(np.sum(_angles_to(rots[i], rots, category) < gate)) for i in picks]
    return rots[picks[int(np.argmax(support))]]


def consensus(category: str, R_cam, t_cam, size, score, T_fixed_cam,
              config: ConsensusConfig | None = None) -> Consensus:  # fmt: skip
    """The consensus pose of one static object (module docstring).

    Args:
        category: its category (the symmetry).
        R_cam: ``[N x 3 x 3]``, t_cam: ``[N x 3]`` (m): the per-frame estimates, camera frame.
        size: ``[N x 3]`` (m) the estimates' extents; score: ``[N]`` their scores.
        T_fixed_cam: ``[N x 4 x 4]`` each estimate's camera pose in the fixed frame.

    Raises:
        InputError: shapes disagree or values are not finite; ConfigError: bad ``config``.
    """
    cfg = (config or ConsensusConfig()).validate()
    cat = get_category(category)
    T = _check_poses(T_fixed_cam, "T_fixed_cam")
    n = len(T)
    R = np.asarray(R_cam, dtype=np.float64)
    t = np.asarray(t_cam, dtype=np.float64)
    sizes = np.asarray(size, dtype=np.float64)
    scores = np.asarray(score, dtype=np.float64)
    if n == 0 or R.shape != (n, 3, 3) or t.shape != (n, 3) or sizes.shape != (n, 3) \
            or scores.shape != (n,):  # fmt: skip
        raise InputError(f"consensus: expected R [N x 3 x 3], t [N x 3], size [N x 3], score [N] "
                         f"for N = {n} camera poses (N >= 1), got {R.shape}, {t.shape}, "
                         f"{sizes.shape}, {scores.shape}")  # fmt: skip
    if not all(np.all(np.isfinite(a)) for a in (R, t, sizes, scores)):
        raise InputError("consensus: expected finite estimates")
    rots = T[:, :3, :3] @ R
    centres, rays, dist, along = _fixed_samples(t, T, cfg)
    prior = np.ones(n)
    if cfg.score_temperature > 0:
        prior = np.exp((scores - scores.max()) / cfg.score_temperature)
    gate = math.radians(cfg.rotation_gate_deg)
    scale = HUBER_K * math.radians(cfg.rotation_sigma_deg)
    mean_r = _seed(rots, cat, gate, cfg.max_seeds)
    pos = robust_ray_mean(centres, rays, cfg.translation_sigma_m, along, None, None,
                          cfg.iterations, HUBER_K)  # fmt: skip
    for _ in range(3):  # gate by the current pose, refit on the inliers only
        angles = _angles_to(mean_r, rots, cat)
        d = np.sqrt(_mahalanobis2(centres - pos.mean, rays, cfg.translation_sigma_m, along))
        inl = (angles <= gate) & (d <= cfg.translation_gate_sigma)
        if not inl.any():
            inl = angles <= gate  # the seed's own estimate is always within the gate
        rot = robust_mean(rots[inl], cat, mean_r, scale, prior[inl], cfg.iterations)
        mean_r = rot.mean
        pos = robust_ray_mean(centres[inl], rays[inl], cfg.translation_sigma_m, along[inl],
                              None, pos.mean, cfg.iterations, HUBER_K)  # fmt: skip
    angles = _angles_to(mean_r, rots, cat)
    d = np.sqrt(_mahalanobis2(centres - pos.mean, rays, cfg.translation_sigma_m, along))
    inl = (angles <= gate) & (d <= cfg.translation_gate_sigma)
    pose = np.eye(4)
    pose[:3, :3], pose[:3, 3] = mean_r, pos.mean
    k = int(inl.sum())
    use = inl if k else np.ones(n, dtype=bool)
    true_dist = np.linalg.norm(pos.mean - T[:, :3, 3], axis=1)
    fixed_size = np.median(sizes[use] * (true_dist[use] / dist[use])[:, None], axis=0)
    spread = float(np.sqrt(np.mean(angles[use] ** 2)))
    fraction = k / n
    reason = ""
    if k < cfg.min_inliers:
        reason = f"{k} inlier estimates (< min_inliers {cfg.min_inliers})"
    elif fraction < cfg.min_inlier_fraction:
        reason = (f"estimates disagree: inlier fraction {fraction:.2f} < "
                  f"{cfg.min_inlier_fraction}")  # fmt: skip
    return Consensus(
        cat.name, pose, fixed_size, inl, np.degrees(angles), d, fraction,
        math.degrees(spread), math.degrees(spread / math.sqrt(max(k, 1))),
        float(np.sqrt(np.trace(pos.covariance))), not reason, reason,
    )  # fmt: skip


def _mahalanobis2(r, rays, sigma_perp: float, along) -> np.ndarray:
    """``[N]`` squared Mahalanobis distances of residuals ``r`` ``[N x 3]`` under the per-ray
    covariances (``sigma_perp`` across, ``along`` ``[N]`` along)."""
    u = (r * rays).sum(axis=1)
    perp2 = np.maximum((r * r).sum(axis=1) - u * u, 0.0)
    return perp2 / sigma_perp**2 + u * u / np.maximum(along, sigma_perp) ** 2


def group_estimates(categories, t_cam, T_fixed_cam, config: ConsensusConfig | None = None):
    """``[N]`` group ids (0, 1, ...): which estimates are the same static object.

    Estimates of one category whose fixed-frame centres join by average linkage within
    ``group_gate_m`` form a group; then groups of a category whose triangulated centres
    (:func:`~ros_pose_estimation.core.point_averaging.robust_ray_mean`) are within
    ``group_gate_m`` or within ``translation_gate_sigma`` sigmas of each other (Mahalanobis,
    both centres' covariances: groups seen along one ray are uncertain along it) are merged,
    until none are. Different categories are never grouped.

    Args:
        categories: ``[N]`` names; t_cam: ``[N x 3]`` (m) centres in the camera frame;
        T_fixed_cam: ``[N x 4 x 4]`` the estimates' camera poses.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    cfg = (config or ConsensusConfig()).validate()
    cats = np.asarray(categories).astype(str)
    T = _check_poses(T_fixed_cam, "T_fixed_cam")
    t = np.asarray(t_cam, dtype=np.float64)
    if t.shape != (len(cats), 3) or len(T) != len(cats):
        raise InputError(f"t_cam, T_fixed_cam: expected [{len(cats)} x 3] and "
                         f"[{len(cats)} x 4 x 4], got {t.shape} and {T.shape}")  # fmt: skip
    centres, rays, _, along = _fixed_samples(t, T, cfg)
    out = np.full(len(cats), -1, dtype=np.int64)
    next_id = 0
    for c in sorted(set(cats.tolist())):
        idx = np.flatnonzero(cats == c)
        ids = np.ones(1, dtype=np.int64)
        if len(idx) > 1:
            ids = fcluster(linkage(centres[idx], "average"), cfg.group_gate_m, "distance")
        groups = [idx[ids == k] for k in np.unique(ids)]
        while len(groups) > 1:
            means = [robust_ray_mean(centres[g], rays[g], cfg.translation_sigma_m, along[g],
                                     iterations=cfg.iterations, huber=HUBER_K) for g in groups]
            pair = _closest_pair(means, cfg)
            if pair is None:
                break
            a, b = pair
            groups[a] = np.concatenate([groups[a], groups[b]])
            del groups[b]
        for g in groups:
            out[g] = next_id
            next_id += 1
    return out


def _closest_pair(means, cfg: ConsensusConfig):
    """Indices ``(a, b)``, ``a < b``, of the two closest group centres (Mahalanobis) that may
    be merged (:func:`group_estimates`), or None."""
    best, pair = np.inf, None
    for a in range(len(means)):
        for b in range(a + 1, len(means)):
            r = means[a].mean - means[b].mean
            cov = means[a].covariance + means[b].covariance
            d2 = float(r @ np.linalg.solve(cov + 1e-12 * np.eye(3), r))
            if (d2 <= cfg.translation_gate_sigma**2 or np.linalg.norm(r) <= cfg.group_gate_m) \
                    and d2 < best:  # fmt: skip
                best, pair = d2, (a, b)
    return pair


def _fixed_samples(t: np.ndarray, T: np.ndarray, cfg: ConsensusConfig):
    """Centres ``t`` ``[N x 3]`` (camera frames) in the fixed frame: ``(centres [N x 3], unit
    viewing rays [N x 3], distances [N] (m), sigma along the ray [N] (m))``."""
    centres = (T[:, :3, :3] @ t[:, :, None])[:, :, 0] + T[:, :3, 3]
    dist = np.maximum(np.linalg.norm(t, axis=1), 1e-9)
    rays = (T[:, :3, :3] @ (t / dist[:, None])[:, :, None])[:, :, 0]
    along = np.maximum(cfg.translation_sigma_m, cfg.depth_sigma_ratio * dist)
    return centres, rays, dist, along
