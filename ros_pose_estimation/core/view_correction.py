"""Viewpoint-dependent bias correction of NeMo's rotations, fitted on labelled synthetic views.

Render-and-compare with trained features does not land on the true rotation: its loss minimum
is a few degrees off, and *systematically* so for a given viewpoint (BENCHMARKS.md: side views
are read too high, top-down ones too low, on the model's own training images as on unseen
data). What is systematic can be measured once and subtracted. The data engine gives free
exact labels, so a calibration set of synthetic views (other instances than the training set)
tells, for each viewpoint, how the model's estimate is off.

The correction is a rotation in the object's frame, a kernel regression over the viewing
direction (Nadaraya-Watson): for an estimate ``R`` (object -> camera, ``[3 x 3]``) at ``t``
(m), the viewing direction in the object frame is ``v = R^T (-t / |t|)``; from the
calibration pairs ``(v_i, r_i)``, ``r_i = log(R_i^T R*_i)`` the rotation vector (rad, object
frame) from an estimate to its label's closest symmetric equivalent ``R*_i``, the correction is

    r(v) = sum_i w_i r_i / sum_i w_i,   w_i = exp((v . v_i - 1) / sigma^2),
    R_corrected = R exp(r(v)).

``sigma`` (rad) is about the angular width of the kernel. The viewing direction fixes two of
the three degrees of freedom of the rotation relative to the camera; the third is the roll
about the viewing ray, ``phi``, the angle of the object's up axis in the image (0 = upright,
:func:`image_roll`). With ``roll_sigma`` set, each weight is also multiplied by
``exp((cos(phi - phi_i) - 1) / roll_sigma^2)``. :func:`fit_view_correction` picks ``sigma`` and
``roll_sigma`` (or none) by cross-validation on the calibration set. A query far from every
calibration view takes the correction of the nearest ones (the weights are normalised); it is
0 only where every weight underflows. Estimates off by more than ``max_error_deg`` (flips,
wrong side) are left out of the fit: their residual is not a bias. For a category with a
continuous symmetry axis (bottle, can, bowl) the azimuth about that axis means nothing, so each
pair is turned about the axis to azimuth 0 before it is stored, and the query likewise
(the correction then depends on the elevation alone).

An RGB-D model's box is metric, and its extents can be off by a share that is the same for
most views (a model whose correspondences shrink towards the template's middle). Given the
labels' sizes, :func:`fit_view_correction` also fits one factor per object axis, the median of
``size_true / size_est`` over the kept pairs (``size_gain``), kept only when it beats the raw
median relative size error by the same margin in cross-validation; :meth:`ViewCorrection.
correct_size` multiplies the extents by it, about the box centre.

Pure numpy; no rclpy, no torch: a checkpoint stores the pairs as tensors and
:meth:`ViewCorrection.from_state` reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.categories import Category, get_category
from ros_pose_estimation.core.errors import CheckpointError, InputError
from ros_pose_estimation.core.rotations import axis_rotation
from ros_pose_estimation.core.so3 import exp_map, frame_with_z, log_map
from ros_pose_estimation.core.symmetry import closest_symmetric, symmetric_angle

__all__ = ["ViewCorrection", "fit_view_correction", "image_roll", "viewing_direction"]


def viewing_direction(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``[... x 3]`` unit direction from the object to the camera in the object frame, for
    rotations ``R [... x 3 x 3]`` (object -> camera) and translations ``t [... x 3]`` (m)."""
    R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64)
    to_camera = -t / np.linalg.norm(t, axis=-1, keepdims=True)
    return np.einsum("...ji,...j->...i", R, to_camera)


def image_roll(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``[...]`` angle (rad) of the object's up axis (its z) about the viewing ray, for
    ``R [... x 3 x 3]`` (object -> camera) at ``t [... x 3]`` (m): 0 when it points up in the
    image (the camera's -y, made perpendicular to the ray), positive towards the image's +x."""
    R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64)
    ray = t / np.linalg.norm(t, axis=-1, keepdims=True)
    x = np.array([1.0, 0.0, 0.0]) - ray[..., :1] * ray  # camera x without its ray component
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(ray, x)
    up = R[..., :, 2]
    return np.arctan2((up * x).sum(-1), -(up * y).sum(-1))


def _axis_frame(category: Category) -> np.ndarray | None:
    """``Q [3 x 3]`` with ``Q e_z`` = the category's continuous symmetry axis, or None."""
    axes = np.asarray(category.continuous_axes, dtype=np.float64).reshape(-1, 3)
    return frame_with_z(axes[0]) if len(axes) == 1 else None


def _fold(views: np.ndarray, q: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Views ``[N x 3]`` expressed in the symmetry frame ``q`` and turned about its z to
    azimuth 0; also the ``[N x 3 x 3]`` turns (frame -> folded), None without a symmetry axis."""
    if q is None:
        return views, None
    local = views @ q
    turn = axis_rotation("z", -np.arctan2(local[:, 1], local[:, 0]))
    return np.einsum("nij,nj->ni", turn, local), turn


@dataclass(frozen=True)
class ViewCorrection:
    """A fitted correction (see the module docstring).

    Attributes:
        category: the category it was fitted for.
        views: ``[N x 3]`` unit viewing directions of the calibration estimates (object frame;
            folded to azimuth 0 about a continuous symmetry axis).
        residuals: ``[N x 3]`` rotation vectors (rad) estimate -> label, same frame as ``views``.
        sigma: kernel width over the viewing direction (rad).
        info: how it was fitted (JSON-like: data, objects, cross-validated errors).
        rolls: ``[N]`` the calibration estimates' :func:`image_roll` (rad), with
            ``roll_sigma`` (rad) the kernel width over it; both None: no roll term.
        translations: ``[N x 3]`` centre errors label - estimate in the estimate's object
            frame / the estimate's box diagonal (same frame as ``views``), with
            ``translation_sigma`` (rad) their kernel width over the viewing direction; both
            None: the translation is left alone (NeMo).
        rotate: False: the rotation is left alone (the fit found no rotation correction that
            beat none in cross-validation); ``residuals`` and ``sigma`` are then unused.
        size_gain: ``[3]`` factors (> 0) of the box's extents along the object's x, y, z
            (metric RGB-D boxes), or None: the size is left alone.
    """

    category: str
    views: np.ndarray
    residuals: np.ndarray
    sigma: float
    info: dict = field(default_factory=dict)
    rolls: np.ndarray | None = None
    roll_sigma: float | None = None
    translations: np.ndarray | None = None
    translation_sigma: float | None = None
    rotate: bool = True
    size_gain: np.ndarray | None = None

    def __post_init__(self) -> None:
        views = np.asarray(self.views, dtype=np.float64)
        residuals = np.asarray(self.residuals, dtype=np.float64)
        if views.ndim != 2 or views.shape[1] != 3 or residuals.shape != views.shape:
            raise InputError(f"view correction: views {views.shape} and residuals "
                             f"{residuals.shape} must both be [N x 3]")  # fmt: skip
        if len(views) == 0:
            raise InputError("view correction: no calibration pairs")
        if not (np.isfinite(views).all() and np.isfinite(residuals).all()):
            raise InputError("view correction: non-finite calibration pairs")
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise InputError(f"view correction: sigma must be > 0 rad, got {self.sigma}")
        if (self.rolls is None) != (self.roll_sigma is None):
            raise InputError("view correction: rolls and roll_sigma go together")
        if self.rolls is not None:
            rolls = np.asarray(self.rolls, dtype=np.float64).reshape(-1)
            if len(rolls) != len(views) or not np.isfinite(rolls).all():
                raise InputError(f"view correction: {len(rolls)} rolls for {len(views)} views")
            if not (np.isfinite(self.roll_sigma) and self.roll_sigma > 0):
                raise InputError(f"view correction: roll_sigma must be > 0 rad, got "
                                 f"{self.roll_sigma}")  # fmt: skip
            object.__setattr__(self, "rolls", rolls)
            object.__setattr__(self, "roll_sigma", float(self.roll_sigma))
        if (self.translations is None) != (self.translation_sigma is None):
            raise InputError("view correction: translations and translation_sigma go together")
        if self.translations is not None:
            translations = np.asarray(self.translations, dtype=np.float64)
            if translations.shape != views.shape or not np.isfinite(translations).all():
                raise InputError(f"view correction: translations {translations.shape} for "
                                 f"views {views.shape}, both [N x 3] and finite")  # fmt: skip
            if not (np.isfinite(self.translation_sigma) and self.translation_sigma > 0):
                raise InputError(f"view correction: translation_sigma must be > 0 rad, got "
                                 f"{self.translation_sigma}")  # fmt: skip
            object.__setattr__(self, "translations", translations)
            object.__setattr__(self, "translation_sigma", float(self.translation_sigma))
        if self.size_gain is not None:
            gain = np.asarray(self.size_gain, dtype=np.float64).reshape(-1)
            if gain.shape != (3,) or not (np.isfinite(gain).all() and (gain > 0).all()):
                raise InputError(f"view correction: size_gain must be 3 positive factors, got "
                                 f"{self.size_gain}")  # fmt: skip
            object.__setattr__(self, "size_gain", gain)
        object.__setattr__(self, "views", views)
        object.__setattr__(self, "residuals", residuals)

    @property
    def changes_nothing(self) -> bool:
        """True when neither the rotation, nor the translation, nor the size is corrected."""
        return not self.rotate and self.translations is None and self.size_gain is None

    def correct_size(self, sizes: np.ndarray) -> np.ndarray:
        """``[B x 3]`` box extents (m) times ``size_gain`` (a copy of ``sizes`` without it)."""
        sizes = np.asarray(sizes, dtype=np.float64)
        return sizes * self.size_gain if self.size_gain is not None else sizes.copy()

    def _kernel_mean(self, R, t, values: np.ndarray, sigma: float, with_roll: bool):
        """``[B x 3]`` the kernel-weighted mean of the stored ``values`` ``[N x 3]`` (vectors in
        the folded frame) at the estimates' viewing directions (and image rolls), back in the
        object frame; 0 where every weight underflows."""
        q = _axis_frame(get_category(self.category))
        views, turn = _fold(viewing_direction(R, t), q)
        logw = (views @ self.views.T - 1.0) / sigma**2  # [B x N]
        if with_roll and self.roll_sigma is not None:
            roll = image_roll(R, t)
            logw = logw + (np.cos(roll[:, None] - self.rolls[None]) - 1.0) / self.roll_sigma**2
        weights = np.exp(logw)
        total = weights.sum(1, keepdims=True)
        mean = weights @ values / np.maximum(total, 1e-300)
        if q is not None:  # back from the folded frame to the object frame
            mean = np.einsum("ij,bkj,bk->bi", q, turn, mean)
        return np.where(total > 1e-300, mean, 0.0)

    def residual(self, R: np.ndarray, t: np.ndarray) -> np.ndarray:
        """``[B x 3]`` correction rotation vectors (rad, object frame) for estimates
        ``R [B x 3 x 3]`` at ``t [B x 3]`` (m)."""
        return self._kernel_mean(R, t, self.residuals, self.sigma, with_roll=True)

    def apply(self, R: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Corrected rotations ``[B x 3 x 3]`` for ``R [B x 3 x 3]`` at ``t [B x 3]`` (m)."""
        R = np.asarray(R, dtype=np.float64)
        if not self.rotate:
            return R.copy()
        r = self.residual(R, t)
        return np.stack([R[b] @ exp_map(r[b]) for b in range(len(R))]) if len(R) else R.copy()

    def translation_residual(self, R: np.ndarray, t: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """``[B x 3]`` centre corrections (m, camera frame) for estimates ``R [B x 3 x 3]`` at
        ``t [B x 3]`` (m) with metric box sizes ``sizes [B x 3]`` (m); zeros without a
        translation part."""
        R, t = np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64)
        if self.translations is None:
            return np.zeros_like(t)
        mean = self._kernel_mean(R, t, self.translations, self.translation_sigma, False)
        diagonal = np.linalg.norm(np.asarray(sizes, dtype=np.float64), axis=-1, keepdims=True)
        return np.einsum("bij,bj->bi", R, mean) * diagonal

    def correct(
        self, R: np.ndarray, t: np.ndarray, sizes: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(R [B x 3 x 3], t [B x 3])`` corrected; ``t`` only when the correction has a
        translation part and ``sizes [B x 3]`` (m) are given."""
        t = np.asarray(t, dtype=np.float64)
        shift = 0.0 if sizes is None else self.translation_residual(R, t, sizes)
        return self.apply(R, t), t + shift

    # ---------------------------------------------------------------- checkpoint form
    def state(self) -> dict:
        """Plain form for a checkpoint (numpy arrays become tensors in the caller)."""
        state = {"category": self.category, "views": self.views, "residuals": self.residuals,
                 "sigma": float(self.sigma), "info": dict(self.info)}  # fmt: skip
        if self.roll_sigma is not None:
            state.update(rolls=self.rolls, roll_sigma=float(self.roll_sigma))
        if self.translation_sigma is not None:
            state.update(translations=self.translations,
                         translation_sigma=float(self.translation_sigma))  # fmt: skip
        if not self.rotate:
            state["rotate"] = False
        if self.size_gain is not None:
            state["size_gain"] = self.size_gain
        return state

    @classmethod
    def from_state(cls, state: dict, source: str = "checkpoint") -> ViewCorrection:
        """Inverse of :meth:`state` (arrays or tensors).

        Raises:
            CheckpointError: missing keys or malformed arrays, naming ``source``.
        """
        missing = {"category", "views", "residuals", "sigma"} - set(state)
        if missing:
            raise CheckpointError(f"{source}: view_correction lacks {sorted(missing)}")
        try:
            def optional(key, kind):
                value = state.get(key)
                return None if value is None else kind(value)

            return cls(str(state["category"]), np.asarray(state["views"]),
                       np.asarray(state["residuals"]), float(state["sigma"]),
                       dict(state.get("info", {})), optional("rolls", np.asarray),
                       optional("roll_sigma", float), optional("translations", np.asarray),
                       optional("translation_sigma", float),
                       bool(state.get("rotate", True)),
                       optional("size_gain", np.asarray))  # fmt: skip
        except InputError as err:
            raise CheckpointError(f"{source}: {err}") from err


def _pairs(R_est, t_est, R_true, category: Category, max_error_deg: float, t_true=None,
           sizes=None, max_translation_error: float = np.inf):
    """Calibration pairs ``(views [N x 3], residuals [N x 3], rolls [N], translations [N x 3]
    or None)`` and the kept mask ``[M]``."""
    pairs = zip(R_est, R_true, strict=True)
    best = np.stack([closest_symmetric(R, Rt, category) for R, Rt in pairs])
    residuals = np.stack([log_map(R.T @ b) for R, b in zip(R_est, best, strict=True)])
    keep = np.degrees(np.linalg.norm(residuals, axis=1)) <= max_error_deg
    translations = None
    if t_true is not None:
        diagonal = np.linalg.norm(sizes, axis=1, keepdims=True)
        translations = np.einsum("mji,mj->mi", R_est, t_true - t_est) / diagonal
        keep &= np.linalg.norm(translations, axis=1) <= max_translation_error
        translations = translations[keep]
    q = _axis_frame(category)
    views, turn = _fold(viewing_direction(R_est[keep], t_est[keep]), q)
    residuals = residuals[keep]
    if q is not None:
        residuals = np.einsum("nij,nj->ni", turn, residuals @ q)
        if translations is not None:
            translations = np.einsum("nij,nj->ni", turn, translations @ q)
    return views, residuals, image_roll(R_est[keep], t_est[keep]), translations, keep


def _errors_deg(correction: ViewCorrection, R_est, t_est, R_true, category) -> np.ndarray:
    fixed = correction.apply(R_est, t_est)
    pairs = zip(fixed, R_true, strict=True)
    return np.degrees([symmetric_angle(f, rt, category) for f, rt in pairs])


def _key(sigma: float, roll_sigma: float | None) -> str:
    return f"{sigma:g}" if roll_sigma is None else f"{sigma:g}, roll {roll_sigma:g}"


def fit_view_correction(
    category: str,
    R_est: np.ndarray,
    t_est: np.ndarray,
    R_true: np.ndarray,
    sigmas_rad: tuple[float, ...] = (0.05, 0.08, 0.12, 0.16, 0.22, 0.3, 0.45),
    roll_sigmas_rad: tuple[float | None, ...] = (None, 0.4, 0.2, 0.1),
    max_error_deg: float = 30.0,
    folds: int = 5,
    seed: int = 0,
    t_true: np.ndarray | None = None,
    sizes: np.ndarray | None = None,
    translation_sigmas_rad: tuple[float, ...] = (0.08, 0.12, 0.16, 0.22, 0.3, 0.45, 1.0, 3.0),
    max_translation_error: float = 0.3,
    min_gain: float = 0.03,
    size_true: np.ndarray | None = None,
) -> ViewCorrection:
    """Fit a :class:`ViewCorrection` from estimates and labels of a calibration set.

    Args:
        category: the model's category.
        R_est: ``[M x 3 x 3]`` the model's (uncorrected) rotations; ``t_est``: ``[M x 3]`` its
            translations (m); ``R_true``: ``[M x 3 x 3]`` the labels.
        sigmas_rad, roll_sigmas_rad: kernel widths tried (rad; a roll width None: no roll
            term); the pair with the lowest cross-validated median rotation error over the
            kept estimates wins (ties: the wider, then without roll), if it beats the raw
            median by ``min_gain`` (a fraction: 0.03 = 3 %, a margin for the noise of
            cross-validation); else the rotation is left alone (``rotate`` False,
            ``info["kept"]`` "none"). The translation's width likewise.
        max_error_deg: estimates farther than this from their label are left out.
        folds: cross-validation folds (random split, ``seed``).
        t_true, sizes: ``[M x 3]`` the labels' translations (m) and the estimates' metric box
            sizes (m): given both, the translation is corrected too, its width chosen from
            ``translation_sigmas_rad`` by the cross-validated median centre error (3.0 rad:
            about one mean shift for every view); estimates whose centre is off by more than
            ``max_translation_error`` box diagonals are left out as well.
        size_true: ``[M x 3]`` the labels' box extents (m), with ``sizes``: the extents are
            corrected too, by the per-axis median of ``size_true / sizes`` over the kept
            pairs, when that beats the raw median relative size error (the mean over the axes
            of ``|log(size_true / size)|``) by ``min_gain`` in cross-validation.

    Returns:
        The correction over all kept pairs; ``info`` holds the objects used, the median error
        before and the cross-validated median after for every pair of widths (and
        ``translation``: the same in cm for the translation widths).

    Raises:
        InputError: mismatched shapes, or fewer than ``4 * folds`` usable estimates.
    """
    cat = get_category(category)
    R_est, t_est, R_true = (np.asarray(a, dtype=np.float64) for a in (R_est, t_est, R_true))
    if R_est.shape != R_true.shape or R_est.shape[1:] != (3, 3) or t_est.shape != (len(R_est), 3):
        raise InputError(
            f"fit_view_correction: R_est {R_est.shape}, t_est {t_est.shape}, R_true "
            f"{R_true.shape}: expected [M x 3 x 3], [M x 3], [M x 3 x 3]"
        )
    if (t_true is None) != (sizes is None):
        raise InputError("fit_view_correction: t_true and sizes go together")
    if t_true is not None:
        t_true, sizes = np.asarray(t_true, np.float64), np.asarray(sizes, np.float64)
        if t_true.shape != t_est.shape or sizes.shape != t_est.shape:
            raise InputError(f"fit_view_correction: t_true {t_true.shape} and sizes "
                             f"{sizes.shape}: expected [M x 3] like t_est")  # fmt: skip
        if not (np.linalg.norm(sizes, axis=1) > 0).all():
            raise InputError("fit_view_correction: every size must be > 0")
    if size_true is not None:
        size_true = np.asarray(size_true, np.float64)
        if sizes is None or size_true.shape != t_est.shape:
            raise InputError(f"fit_view_correction: size_true {size_true.shape} needs sizes, "
                             f"both [M x 3] like t_est")  # fmt: skip
        if not ((size_true > 0).all() and (sizes > 0).all()):
            raise InputError("fit_view_correction: size_true and sizes must be > 0 per axis")
    views, residuals, rolls, translations, keep = _pairs(
        R_est, t_est, R_true, cat, max_error_deg, t_true, sizes, max_translation_error
    )
    if len(views) < 4 * folds:
        raise InputError(f"fit_view_correction: {len(views)} of {len(R_est)} estimates within "
                         f"{max_error_deg} deg of their labels; need >= {4 * folds}")  # fmt: skip
    kept = np.flatnonzero(keep)
    before = np.degrees(np.linalg.norm(residuals, axis=1))
    fold_of = np.random.default_rng(seed).permutation(len(kept)) % folds
    cv: dict[str, float] = {}
    grid = [(s, r) for r in roll_sigmas_rad for s in sigmas_rad]
    for sigma, roll_sigma in grid:
        errors = np.empty(len(kept))
        for k in range(folds):
            train, test = fold_of != k, fold_of == k
            model = ViewCorrection(category, views[train], residuals[train], sigma,
                                   rolls=None if roll_sigma is None else rolls[train],
                                   roll_sigma=roll_sigma)  # fmt: skip
            idx = kept[test]
            errors[test] = _errors_deg(model, R_est[idx], t_est[idx], R_true[idx], cat)
        cv[_key(sigma, roll_sigma)] = float(np.median(errors))
    sigma, roll_sigma = min(grid, key=lambda g: (cv[_key(*g)], -g[0], -(g[1] or np.inf)))
    rotate = cv[_key(sigma, roll_sigma)] < (1.0 - min_gain) * float(np.median(before))
    info = {"objects": int(len(R_est)), "pairs": int(len(views)),
            "max_error_deg": float(max_error_deg), "folds": int(folds),
            "min_gain": float(min_gain),
            "median_before_deg": float(np.median(before)), "cv_median_deg": cv,
            "sigma_rad": float(sigma), "roll_sigma_rad": roll_sigma,
            "kept": _key(sigma, roll_sigma) if rotate else "none"}  # fmt: skip
    translation_sigma = None
    if translations is not None:
        before_m = np.linalg.norm(t_true[kept] - t_est[kept], axis=1)
        cv_t: dict[str, float] = {}
        for width in translation_sigmas_rad:
            shifted = np.empty((len(kept), 3))
            for k in range(folds):
                train, test = fold_of != k, fold_of == k
                model = ViewCorrection(category, views[train], residuals[train], 1.0,
                                       translations=translations[train],
                                       translation_sigma=width)  # fmt: skip
                i = kept[test]
                shifted[test] = t_est[i] + model.translation_residual(R_est[i], t_est[i], sizes[i])
            error_m = np.linalg.norm(shifted - t_true[kept], axis=1)
            cv_t[f"{width:g}"] = 100 * float(np.median(error_m))
        best = min(translation_sigmas_rad, key=lambda w: (cv_t[f"{w:g}"], -w))
        if cv_t[f"{best:g}"] < (1.0 - min_gain) * 100 * float(np.median(before_m)):
            translation_sigma = float(best)
        info["translation"] = {
            "max_error_diagonals": float(max_translation_error),
            "median_before_cm": 100 * float(np.median(before_m)), "cv_median_cm": cv_t,
            "sigma_rad": translation_sigma,
            "kept": "none" if translation_sigma is None else f"{translation_sigma:g}",
        }  # fmt: skip
    size_gain = None
    if size_true is not None:
        size_gain, info["size"] = _fit_size_gain(np.log(size_true[kept] / sizes[kept]),
                                                 fold_of, folds, min_gain)  # fmt: skip
    return ViewCorrection(category, views, residuals, float(sigma), info,
                          None if roll_sigma is None else rolls, roll_sigma,
                          None if translation_sigma is None else translations,
                          translation_sigma, rotate, size_gain)  # fmt: skip


def _fit_size_gain(log_ratio: np.ndarray, fold_of: np.ndarray, folds: int,
                   min_gain: float) -> tuple[np.ndarray | None, dict]:  # fmt: skip
    """The per-axis size factors (or None) from ``log_ratio`` ``[K x 3]`` = log(true / estimated
    extents) of the kept pairs, cross-validated over the folds ``fold_of`` ``[K]``, and their
    report (relative size errors in %)."""
    before = np.abs(log_ratio).mean(1)
    after = np.empty(len(log_ratio))
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        after[test] = np.abs(log_ratio[test] - np.median(log_ratio[train], 0)).mean(1)
    gain = np.exp(np.median(log_ratio, 0))
    keep = float(np.median(after)) < (1.0 - min_gain) * float(np.median(before))
    return (gain if keep else None), {
        "median_before_pct": 100 * float(np.median(before)),
        "cv_median_pct": 100 * float(np.median(after)),
        "gain": [float(g) for g in gain], "kept": bool(keep),
    }  # fmt: skip
