"""Pose pseudo-labels without annotations: robot kinematics + depth + the category's shape prior.

A track of an extracted recording (:class:`~.cache.ExtractedRecording`) is one static object
seen by a moving camera whose pose in the fixed frame is known from ``/tf``. Its object pose in
the fixed frame, ``T_fixed_obj``, is therefore one unknown per track; every frame's object pose
follows as ``T_cam_obj = inv(T_fixed_cam) @ T_fixed_obj``. Per track:

1. **fuse**: depth pixels inside the object's box (and, for the support plane, a box twice as
   large) of up to ``max_views`` evenly spaced frames -> points in the fixed frame (m),
   voxel-downsampled (``voxel``).
2. **support plane**: RANSAC plane of the enlarged-box points (seeded), its normal oriented
   towards the cameras: the canonical +z (``categories.md``: +z up when standing).
3. **carve**: points between ``min_height`` and ``max_height`` above the plane that project into
   the object's box in at least ``hull_fraction`` of the views that see them (a visual hull of
   the boxes: background behind the object leaves the box as the camera moves).
4. **fit the shape prior** (``shapes.template_mesh``): for every yaw on a ``yaw_step_deg`` grid
   (one yaw for categories symmetric about z) the template is scaled per axis to the carved
   points' extents (1st..99th percentile; the bottom at the plane) and scored by a truncated
   two-sided chamfer distance; the best yaw is refined on a 1 deg grid.
5. **confidence**: ``inlier_ratio`` (carved points within ``inlier_distance`` of the fitted
   surface) and ``yaw_margin`` (second-best score over yaws > 30 deg away / best score; near 1:
   another yaw fits as well, e.g. the mug's handle was never seen). A track is accepted with
   enough points, ``inlier_ratio >= min_inlier_ratio`` and ``yaw_margin >= min_yaw_margin``;
   otherwise the reason is recorded. (Thresholds: set from the label errors on the generated
   training recordings of ``scripts/bag_training_experiment.sh`` and the tests' recording.)

Shapes: points ``[N x 3]`` float64 (m); poses ``[4 x 4]``. No ground truth is read here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Settings of :func:`label_recording` (lengths in metres, angles in degrees)."""

    max_views: int = 40
    pixel_stride: int = 2
    voxel: float = 0.004
    plane_threshold: float = 0.006
    ransac_iterations: int = 300
    min_height: float = 0.006
    max_height: float = 0.5
    hull_fraction: float = 0.85
    yaw_step_deg: float = 5.0
    truncate: float = 0.02
    inlier_distance: float = 0.006
    min_points: int = 150
    min_inlier_ratio: float = 0.5
    min_yaw_margin: float = 1.03
    min_views: int = 5
    seed: int = 0

    def validate(self) -> None:
        for name in ("voxel", "plane_threshold", "yaw_step_deg", "truncate", "inlier_distance"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"pseudo_labels.{name}: expected > 0, got {getattr(self, name)}")
        if not 0 < self.hull_fraction <= 1:
            raise ConfigError(f"pseudo_labels.hull_fraction: expected (0, 1], got "
                              f"{self.hull_fraction}")  # fmt: skip
        if self.max_views < 2 or self.pixel_stride < 1 or self.min_views < 1:
            raise ConfigError("pseudo_labels: need max_views >= 2, pixel_stride >= 1, "
                              "min_views >= 1")  # fmt: skip


@dataclass
class TrackLabel:
    """The fitted pose of one track (``T_fixed_obj`` None when rejected) and its quality."""

    recording: str
    track_id: int
    category: str
    accepted: bool
    reason: str = ""
    T_fixed_obj: list | None = None
    extents: list | None = None
    n_views: int = 0
    n_points: int = 0
    inlier_ratio: float = 0.0
    chamfer_m: float = float("nan")
    yaw_margin: float = float("nan")
    extra: dict = field(default_factory=dict)

    def pose(self) -> np.ndarray:
        return np.asarray(self.T_fixed_obj, dtype=np.float64)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _View:
    intrinsics: Intrinsics
    T_cam_fixed: np.ndarray  # [4 x 4]
    box: np.ndarray  # [4] x0 y0 x1 y1 (px)


def voxel_downsample(points: np.ndarray, voxel: float) -> np.ndarray:
    """One point (the mean) per occupied ``voxel`` cube; ``[N x 3]`` -> ``[M x 3]``."""
    if len(points) == 0:
        return points
    keys = np.floor(points / voxel).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse.reshape(-1), points)
    return sums / counts[:, None]


def _box_points(depth, intr: Intrinsics, box, grow: float, stride: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
    c0, c1 = max(int(np.ceil(cx - hw)), 0), min(int(np.floor(cx + hw)), depth.shape[1] - 1)
    r0, r1 = max(int(np.ceil(cy - hh)), 0), min(int(np.floor(cy + hh)), depth.shape[0] - 1)
    rows, cols = np.mgrid[r0 : r1 + 1 : stride, c0 : c1 + 1 : stride]
    z = depth[rows, cols].astype(np.float64)
    ok = np.isfinite(z) & (z > 0)
    uv = np.stack([cols[ok], rows[ok]], axis=1).astype(np.float64)
    return intr.backproject(uv, z[ok])


def _to_fixed(points: np.ndarray, T: np.ndarray) -> np.ndarray:
    return points @ T[:3, :3].T + T[:3, 3]


def fit_plane(points: np.ndarray, threshold: float, iterations: int, rng) -> tuple:
    """RANSAC plane ``(normal [3], offset)`` with ``normal . p + offset = 0`` and its inliers."""
    best, best_count = None, -1
    n = len(points)
    for _ in range(iterations):
        a, b, c = points[rng.choice(n, 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm < 1e-9:
            continue
        normal /= norm
        count = int(np.sum(np.abs(points @ normal - normal @ a) < threshold))
        if count > best_count:
            best, best_count = (normal, -normal @ a), count
    normal, offset = best
    inliers = np.abs(points @ normal + offset) < threshold
    # least-squares refinement on the inliers
    pts = points[inliers]
    centre = pts.mean(0)
    normal = np.linalg.svd(pts - centre)[2][2]
    return normal, -normal @ centre, inliers


def _plane_frame(normal: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """``T_fixed_plane``: z = ``normal``, x = the fixed frame's x (or y) projected on the plane."""
    ref = np.array([1.0, 0, 0]) if abs(normal[0]) < 0.9 else np.array([0, 1.0, 0])
    x = ref - (ref @ normal) * normal
    x /= np.linalg.norm(x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, np.cross(normal, x), normal], axis=1)
    T[:3, 3] = origin
    return T


def carve(points: np.ndarray, views: list[_View], fraction: float) -> np.ndarray:
    """Bool ``[N]``: the point projects into the box in >= ``fraction`` of the views seeing it."""
    inside = np.zeros(len(points))
    seen = np.zeros(len(points))
    for v in views:
        cam = _to_fixed(points, v.T_cam_fixed)
        uv = v.intrinsics.project(cam)
        ok = np.isfinite(uv).all(1)
        w, h = v.intrinsics.width, v.intrinsics.height
        on_image = ok & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        x0, y0, x1, y1 = v.box
        in_box = on_image & (uv[:, 0] >= x0) & (uv[:, 0] <= x1) & (uv[:, 1] >= y0)
        in_box &= uv[:, 1] <= y1
        seen += on_image
        inside += in_box
    return (seen > 0) & (inside >= fraction * np.maximum(seen, 1))


def surface_samples(mesh, n: int, seed: int = 0) -> np.ndarray:
    """``[n x 3]`` points uniformly on the surface of a :class:`TriMesh` (area-weighted)."""
    tri = mesh.vertices[mesh.faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    rng = np.random.default_rng(seed)
    face = rng.choice(len(tri), n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    w = np.stack([1 - s, s * (1 - r2), s * r2], axis=1)
    return np.einsum("nk,nkd->nd", w, tri[face])


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _score_yaw(points_plane, template, yaw: float, cfg: PseudoLabelConfig):
    """Fit at one yaw: ``(score, centre_obj [3], extents [3], d_obs [N])``."""
    R = _rot_z(yaw)
    local = points_plane @ R  # plane -> candidate object axes
    lo = np.percentile(local, 1, axis=0)
    hi = np.percentile(local, 99, axis=0)
    lo[2] = 0.0  # the object stands on the plane
    extents = np.maximum(hi - lo, 1e-3)
    t_lo, t_hi = template.min(0), template.max(0)
    scaled = (template - (t_lo + t_hi) / 2) * (extents / (t_hi - t_lo)) + (lo + hi) / 2
    d_obs = cKDTree(scaled).query(local)[0]
    upper = scaled[scaled[:, 2] > 0.01 + lo[2]]  # the bottom face is never seen
    d_model = cKDTree(local).query(upper)[0]
    score = np.minimum(d_obs, cfg.truncate).mean() + np.minimum(d_model, cfg.truncate).mean()
    return score, (lo + hi) / 2, extents, d_obs


def fit_shape_prior(points_plane: np.ndarray, category: str, cfg: PseudoLabelConfig) -> dict:
    """Fit the category template to carved points given in the plane frame (z up, z=0 plane).

    Returns ``T_plane_obj [4 x 4]``, ``extents [3]`` (m), ``chamfer_m``, ``inlier_ratio``,
    ``yaw_margin`` (inf for categories symmetric about z, where yaw is meaningless).
    """
    from ros_pose_estimation.shapes import template_mesh

    template = surface_samples(template_mesh(category), 3000, cfg.seed)
    symmetric = get_category(category).has_continuous_symmetry
    yaws = [0.0] if symmetric else np.deg2rad(np.arange(0.0, 360.0, cfg.yaw_step_deg))
    scores = np.array([_score_yaw(points_plane, template, y, cfg)[0] for y in yaws])
    best = float(yaws[int(np.argmin(scores))])
    if not symmetric:
        fine = best + np.deg2rad(np.arange(-cfg.yaw_step_deg, cfg.yaw_step_deg + 0.5, 1.0))
        fine_scores = [_score_yaw(points_plane, template, y, cfg)[0] for y in fine]
        best = float(fine[int(np.argmin(fine_scores))])
    score, centre, extents, d_obs = _score_yaw(points_plane, template, best, cfg)
    margin = float("inf")
    if not symmetric:
        gap = np.abs((np.asarray(yaws) - best + np.pi) % (2 * np.pi) - np.pi)
        far = scores[gap > np.deg2rad(30)]
        margin = float(far.min() / max(score, 1e-9)) if len(far) else float("inf")
    T = np.eye(4)
    T[:3, :3] = _rot_z(best)
    T[:3, 3] = _rot_z(best) @ centre
    return {
        "T_plane_obj": T, "extents": extents, "chamfer_m": float(score),
        "inlier_ratio": float(np.mean(d_obs < cfg.inlier_distance)), "yaw_margin": margin,
    }  # fmt: skip


def collect_views(recording, track_id: int, max_views: int) -> list:
    """``(frame_position, frame, object)`` of the track's frames with a camera pose and depth,
    at most ``max_views``, evenly spaced."""
    found = []
    for pos, frame in enumerate(recording.frames(images=False)):
        if frame.T_fixed_cam is None:
            continue
        for obj in frame.objects:
            if obj.track_id == track_id:
                found.append((pos, obj))
    if len(found) > max_views:
        found = [found[i] for i in np.linspace(0, len(found) - 1, max_views).round().astype(int)]
    return found


def label_track(recording, track, cfg: PseudoLabelConfig) -> TrackLabel:
    """Fit one track of ``recording`` (see the module docstring)."""
    name = recording.directory.name
    label = TrackLabel(name, int(track.track_id), track.category, accepted=False)
    chosen = collect_views(recording, track.track_id, cfg.max_views)
    label.n_views = len(chosen)
    if len(chosen) < cfg.min_views:
        label.reason = f"seen with camera pose in {len(chosen)} frames (< {cfg.min_views})"
        return label
    obj_pts, wide_pts, views = [], [], []
    for pos, obj in chosen:
        frame = recording.frame(pos)
        if frame.depth is None:
            label.reason = "the recording has no depth (extract with modality rgbd)"
            return label
        T = frame.T_fixed_cam
        obj_pts.append(_to_fixed(_box_points(frame.depth, frame.intrinsics, obj.box_xyxy, 1.0,
                                             cfg.pixel_stride), T))  # fmt: skip
        wide_pts.append(_to_fixed(_box_points(frame.depth, frame.intrinsics, obj.box_xyxy, 2.0,
                                              2 * cfg.pixel_stride), T))  # fmt: skip
        views.append(_View(frame.intrinsics, np.linalg.inv(T), np.asarray(obj.box_xyxy)))
    wide = voxel_downsample(np.concatenate(wide_pts), cfg.voxel)
    points = voxel_downsample(np.concatenate(obj_pts), cfg.voxel)
    if len(wide) < 3 or len(points) < cfg.min_points:
        label.reason = f"{len(points)} depth points in the boxes (< {cfg.min_points})"
        return label
    rng = np.random.default_rng(cfg.seed)
    normal, offset, _ = fit_plane(wide, cfg.plane_threshold, cfg.ransac_iterations, rng)
    cameras = np.array([np.linalg.inv(v.T_cam_fixed)[:3, 3] for v in views])
    if np.mean(cameras @ normal + offset) < 0:  # the normal points at the cameras: up
        normal, offset = -normal, -offset
    height = points @ normal + offset
    keep = (height > cfg.min_height) & (height < cfg.max_height)
    keep &= carve(points, views, cfg.hull_fraction)
    points = points[keep]
    label.n_points = len(points)
    if len(points) < cfg.min_points:
        label.reason = f"{len(points)} points on the object after carving (< {cfg.min_points})"
        return label
    centroid = points.mean(0)
    T_fixed_plane = _plane_frame(normal, centroid - (centroid @ normal + offset) * normal)
    local = _to_fixed(points, np.linalg.inv(T_fixed_plane))
    fit = fit_shape_prior(local, track.category, cfg)
    label.T_fixed_obj = (T_fixed_plane @ fit["T_plane_obj"]).tolist()
    label.extents = [float(v) for v in fit["extents"]]
    label.inlier_ratio, label.chamfer_m = fit["inlier_ratio"], fit["chamfer_m"]
    label.yaw_margin = fit["yaw_margin"]
    label.extra = {"plane_normal": normal.tolist()}
    if label.inlier_ratio < cfg.min_inlier_ratio:
        label.reason = (f"shape prior fits poorly: inlier ratio {label.inlier_ratio:.2f} < "
                        f"{cfg.min_inlier_ratio}")  # fmt: skip
        return label
    if label.yaw_margin < cfg.min_yaw_margin:
        label.reason = (f"yaw ambiguous: another yaw fits within {label.yaw_margin:.3f}x of the "
                        f"best score (< {cfg.min_yaw_margin})")  # fmt: skip
        return label
    label.accepted = True
    return label


def label_recording(recording, categories, cfg: PseudoLabelConfig | None = None,
                    progress=None) -> list[TrackLabel]:  # fmt: skip
    """Labels of every non-short track of ``categories`` in ``recording`` (accepted or not);
    ``progress(label)`` is called after each track."""
    cfg = cfg or PseudoLabelConfig()
    cfg.validate()
    wanted = {get_category(c).name for c in categories}
    labels = []
    for track in recording.tracks:
        if track.category not in wanted:
            continue
        if track.short:
            label = TrackLabel(recording.directory.name, int(track.track_id), track.category,
                               False, reason=f"short track ({track.n_frames} frames)")  # fmt: skip
        else:
            label = label_track(recording, track, cfg)
        labels.append(label)
        if progress is not None:
            progress(label)
    return labels
