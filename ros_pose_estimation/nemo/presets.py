"""Settings of render-and-compare inference, in documented dataclasses with named presets.

* :meth:`InferenceConfig.reference`: the published NeMo schedule (``shared/notes/methods.md``):
  144 initial poses (12 azimuths x elevations -30, 0, 30, 60 deg x in-plane -30, 0, 30 deg),
  each rendered and scored with the published loss (``"nemo"``); the best one is refined by
  Adam (lr 0.05, betas (0.4, 0.6)) for 300 steps, lr x 0.2 every 100 steps, no early stop.
  Our parametrisation (:mod:`.pose_param`) with the translation steps scaled by 0.2, i.e.
  1 % of the distance per step at lr 0.05, as the published distance step.
* :meth:`InferenceConfig.default`: fast, and as accurate as the reference (BENCHMARKS.md).

  1. init: 600 hypotheses (24 azimuths x elevations -15..45 deg x in-plane -30..30 deg, 15 deg
     steps) placed at the box-derived distance and scored at once from per-vertex score maps
     (no rendering, 128 of the vertices each); keep the best 8 at least 30 deg apart.
  2. fine: render-and-compare (published ``"nemo"`` loss) on the 8 together, all six
     parameters, by Levenberg-Marquardt (:mod:`.levenberg_marquardt`): at most 6
     iterations, no parameter moving by more than 0.3 per iteration; after 2 iterations the
     hypotheses more than 0.01 behind their detection's best stop; a hypothesis stops when an
     iteration improves its best loss by less than 5e-5 (after >= 3). The lowest loss wins.

  At most 6 render-and-compare evaluations per hypothesis (4-6 typically), against 300 Adam
  steps for the reference; all detections of a category in one batch. Gauss-Newton steps
  reach the minimum Adam's fixed-size steps take hundreds of iterations to settle in.
* :meth:`InferenceConfig.fast`: 108 hypotheses (12 x 3 x 3), 4 kept, at most 4
  Levenberg-Marquardt iterations, pruned to 1 after the first: for CPU-only robots.

Everything is validated on construction (:class:`ConfigError` naming the bad value).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ros_pose_estimation.core.errors import ConfigError

INIT_MODES = ("scoremap", "render")
LOSSES = ("nemo", "linear")
SCHEDULES = ("step", "cosine")
METHODS = ("adam", "lm")
PRESETS = ("default", "fast", "reference")


@dataclass(frozen=True)
class Schedule:
    """One refinement stage: Adam or Levenberg-Marquardt on the pose parameters of
    :mod:`.pose_param`.

    Attributes:
        method: ``"adam"`` (:func:`.refine.refine`) or ``"lm"`` (Levenberg-Marquardt on the
            Gauss-Newton normal equations, :func:`.levenberg_marquardt.refine_lm`;
            render-and-compare stages only). ``lr``, ``betas``, ``schedule``, ``decay``,
            ``decay_every`` and ``raster_every`` are Adam's; ``damping`` and ``max_step``
            are LM's; the rest serve both (an LM iteration counts as a step).
        steps: maximum optimiser steps (0 = stage skipped, poses only evaluated).
        lr: initial learning rate (rad per step for the rotation residual).
        betas: Adam ``(beta1, beta2)`` (published: (0.4, 0.6)).
        schedule: ``"step"`` (lr x ``decay`` every ``decay_every`` steps) or ``"cosine"``
            (from ``lr`` to ``lr * decay`` along half a cosine over ``steps``).
        decay, decay_every: see ``schedule``.
        early_stop: a hypothesis stops once its best loss has not improved by more than
            ``tol`` (absolute, loss units) for ``patience`` consecutive steps, after at least
            ``min_steps`` steps.
        tol, patience, min_steps: see ``early_stop``.
        prune_after: after this many steps (0 = never), hypotheses whose best loss exceeds
            their detection's best by more than ``prune_margin`` stop.
        prune_margin: see ``prune_after`` (loss units).
        fixed_distance: keep ``log d`` at its start value in this stage (the box-derived
            prior): the score-map objective, a mean over vertices, hardly depends on the
            distance, which may then drift where features are ambiguous.
        raster_every: render-and-compare stages only: rasterise every this many steps and
            keep each pixel's face in between, recomputing only the barycentrics
            (:class:`.fixed_compare.CachedRenderObjective`; 1 = every step, exact); only the
            exact evaluations rank, stop and prune hypotheses (``patience`` then counts
            them; make ``steps`` a multiple so that the last evaluation is exact). At
            16 x 16 feature cells a ~1000-vertex mesh has faces smaller than a cell, so the
            kept assignment goes stale within a step or two. An experimental option: no
            preset uses it (evaluate a schedule with ``evaluate-nemo --variant``).
        damping: LM's initial damping ``lambda`` (the step solves
            ``(H + lambda diag(H)) dx = -g``); x ``1 / 3`` after an accepted step, x 4 after
            a rejected one, per hypothesis.
        max_step: LM: largest change of any parameter in one step (rad, log-distance or
            offset units; the units are balanced, :mod:`.pose_param`); longer steps are
            shortened along their direction.
    """

    steps: int = 20
    lr: float = 0.05
    betas: tuple[float, float] = (0.5, 0.9)
    schedule: str = "cosine"
    decay: float = 0.1
    decay_every: int = 100
    early_stop: bool = True
    tol: float = 2e-4
    patience: int = 3
    min_steps: int = 5
    prune_after: int = 3
    prune_margin: float = 0.02
    fixed_distance: bool = False
    raster_every: int = 1
    method: str = "adam"
    damping: float = 1e-2
    max_step: float = 0.15

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        _validate(
            self,
            {
                "steps >= 0": self.steps >= 0,
                "lr > 0": self.lr > 0,
                "betas: two values in [0, 1)": len(self.betas) == 2
                and all(0 <= b < 1 for b in self.betas),
                f"schedule in {SCHEDULES}": self.schedule in SCHEDULES,
                "0 < decay <= 1": 0 < self.decay <= 1,
                "decay_every >= 1": self.decay_every >= 1,
                "tol >= 0": self.tol >= 0,
                "patience >= 1": self.patience >= 1,
                "min_steps >= 0": self.min_steps >= 0,
                "prune_after >= 0": self.prune_after >= 0,
                "prune_margin >= 0": self.prune_margin >= 0,
                "raster_every >= 1": self.raster_every >= 1,
                f"method in {METHODS}": self.method in METHODS,
                "damping > 0": self.damping > 0,
                "max_step > 0": self.max_step > 0,
            },
        )

    def learning_rate(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.schedule == "step":
            return self.lr * self.decay ** (step // self.decay_every)
        end = self.lr * self.decay
        frac = step / max(self.steps - 1, 1)
        return end + 0.5 * (self.lr - end) * (1.0 + math.cos(math.pi * frac))


def _validate(obj, checks: dict[str, bool]) -> None:
    bad = [rule for rule, ok in checks.items() if not ok]
    if bad:
        raise ConfigError(f"{type(obj).__name__}: expected {'; '.join(bad)}; got {obj}")


@dataclass(frozen=True)
class InferenceConfig:
    """How a pose is searched for (see :mod:`.scoring`, :mod:`.refine`, :mod:`.pose_param`).

    Initialisation:
        init: ``"scoremap"`` (vertices of each hypothesis projected onto per-vertex similarity
            maps, :func:`.scoring.score_hypotheses_scoremap`) or ``"render"`` (every
            hypothesis rendered and scored with the refinement loss, as published).
        n_azimuth: azimuths of the viewpoint grid, evenly spaced from 0 deg.
        elevations_deg: elevations of the grid (deg; > 0 = camera above the object).
        thetas_deg: in-plane angles of the grid (deg).
        top_k: hypotheses per detection passed on to refinement.
        min_separation_deg: kept hypotheses are at least this far apart (geodesic, deg;
            greedy non-maximum suppression; 0 = plain top-k).
        init_blur: Gaussian blur (sigma, feature cells) of the score maps the grid is scored
            on (``"scoremap"`` mode): tolerance to a misplaced box centre / distance.
        init_vertices: vertices (a fixed, evenly random subset) that score the grid in
            ``"scoremap"`` mode (0 = all); the refinement always uses all of them.

    Refinement:
        coarse_vertices: vertices (a fixed, evenly random subset) of the score-map objective
            in ``coarse`` (0 = all): its cost per step is proportional to their number.
        coarse: stage on the score-map objective (vertex sampling, no rasterisation; several
            times cheaper per step than rendering), or None to skip it.
        fine_top_k: hypotheses per detection passed from ``coarse`` to ``fine``: those with
            the lowest render-and-compare loss after ``coarse`` (one batched render).
        duplicate_deg: a coarse result within this angle (deg) of a better one is a duplicate
            (several hypotheses converged to the same pose) and is not passed on.
        fine: render-and-compare stage (:func:`.scoring.render_compare`); gives the result.
        loss: render-and-compare loss, ``"nemo"`` (published) or ``"linear"``
            (:mod:`.scoring`).
        lr_scale_distance: lr multiplier of ``log d`` (1: a step of lr 0.05 moves d by 5 %).
        lr_scale_offset: lr multiplier of the centre offset (units of half the box side).
        optimise_offset: optimise the 2D centre offset (else it stays on the box centre).
        max_offset: the projected centre stays within this many half box sides of the box
            centre (1 = inside the box).
        distance_margin: the distance stays within ``[d_min / m, d_max * m]``, ``d_min``,
            ``d_max`` the extreme box-derived distances of the grid's rotations
            (:func:`.pose_param.distance_prior`).
    """

    init: str = "scoremap"
    n_azimuth: int = 24
    elevations_deg: tuple[float, ...] = (-15.0, 0.0, 15.0, 30.0, 45.0)
    thetas_deg: tuple[float, ...] = (-30.0, -15.0, 0.0, 15.0, 30.0)
    top_k: int = 8
    min_separation_deg: float = 30.0
    init_blur: float = 0.0
    init_vertices: int = 128
    coarse_vertices: int = 0
    coarse: Schedule | None = None
    fine_top_k: int = 2
    duplicate_deg: float = 5.0
    fine: Schedule = Schedule(
        method="lm", steps=6, max_step=0.3, tol=5e-5, patience=1, min_steps=3, prune_after=2,
        prune_margin=0.01,
    )  # fmt: skip
    loss: str = "nemo"
    lr_scale_distance: float = 1.0
    lr_scale_offset: float = 1.0
    optimise_offset: bool = True
    max_offset: float = 1.0
    distance_margin: float = 1.5

    def __post_init__(self) -> None:
        object.__setattr__(self, "elevations_deg", tuple(float(e) for e in self.elevations_deg))
        object.__setattr__(self, "thetas_deg", tuple(float(t) for t in self.thetas_deg))
        if isinstance(self.coarse, dict):
            object.__setattr__(self, "coarse", Schedule(**self.coarse))
        if isinstance(self.fine, dict):
            object.__setattr__(self, "fine", Schedule(**self.fine))
        _validate(
            self,
            {
                f"init in {INIT_MODES}": self.init in INIT_MODES,
                f"loss in {LOSSES}": self.loss in LOSSES,
                "n_azimuth >= 1": self.n_azimuth >= 1,
                "elevations_deg non-empty, within [-90, 90]": bool(self.elevations_deg)
                and all(-90.0 <= e <= 90.0 for e in self.elevations_deg),
                "thetas_deg non-empty": bool(self.thetas_deg),
                "1 <= top_k <= grid size": 1 <= self.top_k <= self.n_hypotheses,
                "min_separation_deg >= 0": self.min_separation_deg >= 0,
                "init_vertices >= 0": self.init_vertices >= 0,
                "coarse_vertices >= 0": self.coarse_vertices >= 0,
                "init_blur >= 0": self.init_blur >= 0,
                "1 <= fine_top_k": self.fine_top_k >= 1,
                "duplicate_deg >= 0": self.duplicate_deg >= 0,
                "coarse a Schedule or None": self.coarse is None
                or isinstance(self.coarse, Schedule),
                "fine a Schedule": isinstance(self.fine, Schedule),
                "coarse.method 'adam' (the score-map objective has no Gauss-Newton form)": (
                    self.coarse is None or self.coarse.method == "adam"
                ),
                "lr_scale_distance >= 0": self.lr_scale_distance >= 0,
                "lr_scale_offset >= 0": self.lr_scale_offset >= 0,
                "max_offset > 0": self.max_offset > 0,
                "distance_margin >= 1": self.distance_margin >= 1,
            },
        )

    @property
    def n_hypotheses(self) -> int:
        """Size of the viewpoint grid."""
        return self.n_azimuth * len(self.elevations_deg) * len(self.thetas_deg)

    @classmethod
    def reference(cls) -> InferenceConfig:
        """The published NeMo schedule (see the module docstring)."""
        return cls(
            init="render",
            n_azimuth=12,
            elevations_deg=(-30.0, 0.0, 30.0, 60.0),
            thetas_deg=(-30.0, 0.0, 30.0),
            top_k=1,
            min_separation_deg=0.0,
            coarse=None,
            fine=Schedule(
                steps=300,
                lr=0.05,
                betas=(0.4, 0.6),
                schedule="step",
                decay=0.2,
                decay_every=100,
                early_stop=False,
                prune_after=0,
            ),
            loss="nemo",
            lr_scale_distance=0.2,
            lr_scale_offset=0.2,
        )

    @classmethod
    def default(cls) -> InferenceConfig:
        """Fast and accurate (see the module docstring): the field defaults."""
        return cls()

    @classmethod
    def fast(cls) -> InferenceConfig:
        """Smaller grid (108), 4 hypotheses, at most 4 LM iterations: CPU-only robots."""
        return cls(
            n_azimuth=12,
            elevations_deg=(0.0, 20.0, 40.0),
            thetas_deg=(-15.0, 0.0, 15.0),
            top_k=4,
            min_separation_deg=45.0,
            fine=Schedule(
                method="lm",
                steps=4,
                max_step=0.3,
                tol=1e-4,
                patience=1,
                min_steps=2,
                prune_after=1,
                prune_margin=0.01,
            ),  # fmt: skip
        )

    @classmethod
    def named(cls, name: str) -> InferenceConfig:
        """One of :data:`PRESETS`."""
        presets = {"reference": cls.reference, "default": cls.default, "fast": cls.fast}
        if name not in presets:
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(presets)}")
        return presets[name]()

    def replace(self, **changes) -> InferenceConfig:
        """A validated copy with ``changes``."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown InferenceConfig fields {sorted(unknown)}")
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)
