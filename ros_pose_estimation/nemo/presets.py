"""Settings of render-and-compare inference, in documented dataclasses, and the named presets.

An :class:`InferenceConfig` is the viewpoint grid, how it is scored, and one refinement stage:
an :class:`AdamSchedule` or an :class:`LMSchedule` (Levenberg-Marquardt), which share the
stopping rules of :class:`StoppingRules`. The presets are one table, :data:`PRESETS`: each a
set of fields that differ from the :class:`InferenceConfig` defaults
(:meth:`InferenceConfig.named` builds one).

* ``"default"`` (no overrides): fast, and as accurate as the reference (BENCHMARKS.md).

  1. init: 600 hypotheses (24 azimuths x elevations -15..45 deg x in-plane -30..30 deg, 15 deg
     steps) placed at the box-derived distance and scored at once from per-vertex score maps
     (no rendering, 128 of the vertices each); keep the best 8 at least 30 deg apart.
  2. refinement: render-and-compare (published ``"nemo"`` loss) on the 8 together, all six
     parameters, by Levenberg-Marquardt (:mod:`.levenberg_marquardt`): at most 6
     iterations, no parameter moving by more than 0.3 per iteration; after 2 iterations the
     hypotheses more than 0.01 behind their detection's best stop; a hypothesis stops when an
     iteration improves its best loss by less than 5e-5 (after >= 3). The lowest loss wins.

  At most 6 render-and-compare evaluations per hypothesis (4-6 typically), against 300 Adam
  steps for the reference; all detections of a category in one batch. Gauss-Newton steps
  reach the minimum Adam's fixed-size steps take hundreds of iterations to settle in.
* ``"fast"``: 108 hypotheses (12 x 3 x 3), 4 kept, at most 4 Levenberg-Marquardt iterations,
  pruned to 1 after the first: for CPU-only robots.
* ``"reference"``: the published NeMo schedule (``shared/notes/methods.md``): 144 initial poses
  (12 azimuths x elevations -30, 0, 30, 60 deg x in-plane -30, 0, 30 deg), each rendered and
  scored with the published loss (``"nemo"``); the best one is refined by Adam (lr 0.05, betas
  (0.4, 0.6)) for 300 steps, lr x 0.2 every 100 steps, no early stop. Our parametrisation
  (:mod:`.pose_param`) with the translation steps scaled by 0.2, i.e. 1 % of the distance per
  step at lr 0.05, as the published distance step.

Everything is validated on construction (:class:`ConfigError` naming the bad value).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import ClassVar

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.upright import UPRIGHT_KEEP

__all__ = [
    "PRESETS",
    "AdamSchedule",
    "InferenceConfig",
    "LMSchedule",
    "StoppingRules",
    "schedule_from_dict",
]

INIT_MODES = ("scoremap", "render")
LOSSES = ("nemo", "linear")
LR_SCHEDULES = ("step", "cosine")


def _validate(obj, checks: dict[str, bool]) -> None:
    bad = [rule for rule, ok in checks.items() if not ok]
    if bad:
        raise ConfigError(f"{type(obj).__name__}: expected {'; '.join(bad)}; got {obj}")


@dataclass(frozen=True)
class StoppingRules:
    """How long a refinement stage runs, whatever the optimiser (:mod:`.refine_state`).

    Attributes:
        steps: maximum optimiser steps (Adam steps or LM iterations; 0 = poses only
            evaluated).
        early_stop: a hypothesis stops once its best loss has not improved by more than
            ``tol`` (absolute, loss units) for ``patience`` consecutive evaluations, after at
            least ``min_steps`` steps.
        tol, patience, min_steps: see ``early_stop``.
        prune_after: after this many steps (0 = never), hypotheses whose best loss exceeds
            their detection's best by more than ``prune_margin`` stop.
        prune_margin: see ``prune_after`` (loss units).
        fixed_distance: keep ``log d`` at its start value (the box-derived prior).
    """

    #: ``"adam"`` or ``"lm"``: which optimiser a subclass configures (:func:`.refine.refine`).
    method: ClassVar[str] = ""

    steps: int = 20
    early_stop: bool = True
    tol: float = 2e-4
    patience: int = 3
    min_steps: int = 5
    prune_after: int = 3
    prune_margin: float = 0.02
    fixed_distance: bool = False

    def __post_init__(self) -> None:
        _validate(self, self._checks())

    def _checks(self) -> dict[str, bool]:
        return {
            "steps >= 0": self.steps >= 0,
            "tol >= 0": self.tol >= 0,
            "patience >= 1": self.patience >= 1,
            "min_steps >= 0": self.min_steps >= 0,
            "prune_after >= 0": self.prune_after >= 0,
            "prune_margin >= 0": self.prune_margin >= 0,
        }

    def to_dict(self) -> dict:
        """The fields and ``method`` (what :func:`schedule_from_dict` reads back)."""
        return {"method": self.method, **asdict(self)}


@dataclass(frozen=True)
class AdamSchedule(StoppingRules):
    """Adam on the pose parameters of :mod:`.pose_param` (:func:`.refine.adam_steps`), with
    the stopping rules of :class:`StoppingRules`.

    Attributes:
        lr: initial learning rate (rad per step for the rotation residual).
        betas: Adam ``(beta1, beta2)`` (published: (0.4, 0.6)).
        schedule: ``"step"`` (lr x ``decay`` every ``decay_every`` steps) or ``"cosine"``
            (from ``lr`` to ``lr * decay`` along half a cosine over ``steps``).
        decay, decay_every: see ``schedule``.
    """

    method: ClassVar[str] = "adam"

    lr: float = 0.05
    betas: tuple[float, float] = (0.5, 0.9)
    schedule: str = "cosine"
    decay: float = 0.1
    decay_every: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        super().__post_init__()

    def _checks(self) -> dict[str, bool]:
        return {
            **super()._checks(),
            "lr > 0": self.lr > 0,
            "betas: two values in [0, 1)": len(self.betas) == 2
            and all(0 <= b < 1 for b in self.betas),
            f"schedule in {LR_SCHEDULES}": self.schedule in LR_SCHEDULES,
            "0 < decay <= 1": 0 < self.decay <= 1,
            "decay_every >= 1": self.decay_every >= 1,
        }

    def learning_rate(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based)."""
        if self.schedule == "step":
            return self.lr * self.decay ** (step // self.decay_every)
        end = self.lr * self.decay
        frac = step / max(self.steps - 1, 1)
        return end + 0.5 * (self.lr - end) * (1.0 + math.cos(math.pi * frac))


@dataclass(frozen=True)
class LMSchedule(StoppingRules):
    """Levenberg-Marquardt on the Gauss-Newton normal equations of the render-and-compare loss
    (:mod:`.levenberg_marquardt`), with the stopping rules of :class:`StoppingRules` (an
    iteration counts as a step).

    Attributes:
        damping: initial damping ``lambda`` (the step solves ``(H + lambda diag(H)) dx = -g``);
            x ``1 / 3`` after an accepted step, x 4 after a rejected one, per hypothesis.
        max_step: largest change of any parameter in one step (rad, log-distance or offset
            units; the units are balanced, :mod:`.pose_param`); longer steps are shortened
            along their direction.
    """

    method: ClassVar[str] = "lm"

    damping: float = 1e-2
    max_step: float = 0.15

    def _checks(self) -> dict[str, bool]:
        return {
            **super()._checks(),
            "damping > 0": self.damping > 0,
            "max_step > 0": self.max_step > 0,
        }


#: ``method`` -> schedule class.
SCHEDULES: dict[str, type[StoppingRules]] = {"adam": AdamSchedule, "lm": LMSchedule}


def schedule_from_dict(data: dict) -> AdamSchedule | LMSchedule:
    """An :class:`AdamSchedule` or :class:`LMSchedule` from its fields and ``method``
    (``"adam"`` when absent); unset fields keep their defaults.

    Raises:
        ConfigError: an unknown ``method`` or field, or an invalid value.
    """
    fields_ = dict(data)
    method = fields_.pop("method", "adam")
    if method not in SCHEDULES:
        raise ConfigError(f"method: expected one of {sorted(SCHEDULES)}, got {method!r}")
    cls = SCHEDULES[method]
    unknown = set(fields_) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    return cls(**fields_)


@dataclass(frozen=True)
class InferenceConfig:
    """How a pose is searched for (see :mod:`.hypotheses`, :mod:`.refine`, :mod:`.pose_param`).

    Initialisation:
        init: ``"scoremap"`` (vertices of each hypothesis projected onto per-vertex similarity
            maps, :func:`.hypotheses.score_hypotheses_scoremap`) or ``"render"`` (every
            hypothesis rendered and scored with the refinement loss, as published).
        n_azimuth: azimuths of the viewpoint grid, evenly spaced from 0 deg.
        elevations_deg: elevations of the grid (deg; > 0 = camera above the object).
        thetas_deg: in-plane angles of the grid (deg).
        top_k: hypotheses per detection passed on to refinement.
        min_separation_deg: kept hypotheses are at least this far apart (geodesic, deg;
            greedy non-maximum suppression; 0 = plain top-k).
        init_vertices: vertices (a fixed, evenly random subset) that score the grid in
            ``"scoremap"`` mode (0 = all); the refinement always uses all of them.

    Refinement:
        refinement: the render-and-compare stage (:func:`.scoring.render_compare`), Adam or
            Levenberg-Marquardt; gives the result. A dict with ``method`` is accepted
            (:func:`schedule_from_dict`).
        loss: render-and-compare loss, ``"nemo"`` (published) or ``"linear"``
            (:mod:`.scoring`).
        lr_scale_distance: lr multiplier of ``log d`` (1: a step of lr 0.05 moves d by 5 %).
        lr_scale_offset: lr multiplier of the centre offset (units of half the box side).
        optimise_offset: optimise the 2D centre offset (else it stays on the box centre).
        refine_proportions: a model whose neural mesh is fitted to each instance
            (:attr:`.model.NemoConfig.per_axis_scale`) refines the mesh's proportions y / x and
            z / x with the pose; False keeps the category mesh's.
        proportion_prior: weight ``w`` of a prior on those proportions: ``w / 2 |a|^2`` (``a``
            the two log proportions, 0 the category mesh's) is added to each hypothesis's
            loss, so a wrong pose cannot buy a better fit with far-off proportions (0: none).
        max_offset: the projected centre stays within this many half box sides of the box
            centre (1 = inside the box).
        distance_margin: the distance stays within ``[d_min / m, d_max * m]``, ``d_min``,
            ``d_max`` the extreme box-derived distances of the grid's rotations
            (:func:`.pose_param.distance_prior`).

    Finer features (a model whose ``stride`` is below ``coarse_stride``):
        coarse_stride: the grid and ``refinement`` run on the model's features pooled to this
            stride (px of the crop per cell; a multiple of the model's that divides its crop;
            0 = at the model's own stride), then the best pose
            is refined at the model's own stride by ``fine_refinement``: the search costs what
            it costs a stride-8 model, the finer map only sharpens the end.
        fine_refinement: that last stage (Levenberg-Marquardt, one pose per detection).

    Correction:
        view_correction: apply the model's viewpoint bias correction to the refined rotation
            when its checkpoint has one (:mod:`ros_pose_estimation.core.view_correction`,
            fitted by ``calibrate-nemo``);
            False gives the raw render-and-compare optimum.

    Upright look (:mod:`ros_pose_estimation.core.upright`):
        upright: when an estimate's object stands rolled by more than ``upright_min_deg`` in
            the image (a camera turned about its axis), estimate it again in the view of the
            camera turned so that the object stands upright (the views the models were trained
            on), and map that pose back.
        upright_keep: ``"lower_loss"``: the look with the lowest render-and-compare loss;
            ``"second"``: always the last upright look.
        upright_looks: at most this many upright looks per object, each turning the camera
            by what the previous one says (until the turn settles).

    Standing under gravity (:mod:`ros_pose_estimation.core.standing`; only when
    :meth:`.estimator.NemoEstimator.estimate` is given ``up``, the world's up from /tf):
        stand_upright: an estimate whose up axis (a box: its axis nearest the world's up) is
            within ``stand_upright_deg`` of the world's up is turned by the smallest rotation
            that makes them equal: objects stand on horizontal surfaces (a tabletop prior; an
            object clearly tilted stays as estimated).
        stand_upright_deg: that gate (deg): about the 90th percentile of the tilt error of
            the bundled models' raw estimates on their calibration sets (14-26 deg), so that
            most upright objects are stood and one lying on its side (90 deg) never is. The
            RGB-D estimator's gate is 15 deg: its tilt comes from depth.
    """

    init: str = "scoremap"
    n_azimuth: int = 24
    elevations_deg: tuple[float, ...] = (-15.0, 0.0, 15.0, 30.0, 45.0)
    thetas_deg: tuple[float, ...] = (-30.0, -15.0, 0.0, 15.0, 30.0)
    top_k: int = 8
    min_separation_deg: float = 30.0
    init_vertices: int = 128
    refinement: AdamSchedule | LMSchedule = LMSchedule(
        steps=6, max_step=0.3, tol=5e-5, patience=1, min_steps=3, prune_after=2,
        prune_margin=0.01,
    )  # fmt: skip
    coarse_stride: int = 8
    fine_refinement: LMSchedule = LMSchedule(
        steps=3, max_step=0.1, tol=5e-5, patience=1, min_steps=1, prune_after=0,
    )  # fmt: skip
    loss: str = "nemo"
    lr_scale_distance: float = 1.0
    lr_scale_offset: float = 1.0
    optimise_offset: bool = True
    refine_proportions: bool = True
    proportion_prior: float = 0.0
    max_offset: float = 1.0
    distance_margin: float = 1.5
    view_correction: bool = True
    upright: bool = True
    upright_min_deg: float = 15.0
    upright_keep: str = "lower_loss"
    upright_looks: int = 2
    stand_upright: bool = True
    stand_upright_deg: float = 25.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "elevations_deg", tuple(float(e) for e in self.elevations_deg))
        object.__setattr__(self, "thetas_deg", tuple(float(t) for t in self.thetas_deg))
        if isinstance(self.refinement, dict):
            object.__setattr__(self, "refinement", schedule_from_dict(self.refinement))
        if isinstance(self.fine_refinement, dict):
            fine = schedule_from_dict({"method": "lm", **self.fine_refinement})
            object.__setattr__(self, "fine_refinement", fine)
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
                "refinement an AdamSchedule or LMSchedule": isinstance(
                    self.refinement, AdamSchedule | LMSchedule
                ),
                "coarse_stride >= 0": self.coarse_stride >= 0,
                "fine_refinement an LMSchedule": isinstance(self.fine_refinement, LMSchedule),
                "lr_scale_distance >= 0": self.lr_scale_distance >= 0,
                "lr_scale_offset >= 0": self.lr_scale_offset >= 0,
                "max_offset > 0": self.max_offset > 0,
                "distance_margin >= 1": self.distance_margin >= 1,
                "0 <= upright_min_deg <= 180": 0.0 <= self.upright_min_deg <= 180.0,
                f"upright_keep in {UPRIGHT_KEEP}": self.upright_keep in UPRIGHT_KEEP,
                "upright_looks >= 1": self.upright_looks >= 1,
                "0 <= stand_upright_deg <= 90": 0.0 <= self.stand_upright_deg <= 90.0,
            },
        )

    @property
    def n_hypotheses(self) -> int:
        """Size of the viewpoint grid."""
        return self.n_azimuth * len(self.elevations_deg) * len(self.thetas_deg)

    @classmethod
    def named(cls, name: str) -> InferenceConfig:
        """The preset ``name`` of :data:`PRESETS`.

        Raises:
            ConfigError: an unknown name.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        return cls(**PRESETS[name])

    def replace(self, **changes) -> InferenceConfig:
        """A validated copy with ``changes``.

        Raises:
            ConfigError: unknown fields or invalid values.
        """
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ConfigError(f"unknown InferenceConfig fields {sorted(unknown)}")
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the fields; ``refinement`` with its ``method``."""
        return {**asdict(self), "refinement": self.refinement.to_dict(),
                "fine_refinement": self.fine_refinement.to_dict()}  # fmt: skip


#: The named presets (see the module docstring): preset name -> the :class:`InferenceConfig`
#: fields that differ from the defaults.
PRESETS: dict[str, dict] = {
    "default": {},
    "fast": {
        "n_azimuth": 12,
        "elevations_deg": (0.0, 20.0, 40.0),
        "thetas_deg": (-15.0, 0.0, 15.0),
        "top_k": 4,
        "min_separation_deg": 45.0,
        "refinement": LMSchedule(
            steps=4, max_step=0.3, tol=1e-4, patience=1, min_steps=2, prune_after=1,
            prune_margin=0.01,
        ),  # fmt: skip
    },
    "reference": {
        "init": "render",
        "n_azimuth": 12,
        "elevations_deg": (-30.0, 0.0, 30.0, 60.0),
        "thetas_deg": (-30.0, 0.0, 30.0),
        "top_k": 1,
        "min_separation_deg": 0.0,
        "refinement": AdamSchedule(
            steps=300, lr=0.05, betas=(0.4, 0.6), schedule="step", decay=0.2, decay_every=100,
            early_stop=False, prune_after=0,
        ),  # fmt: skip
        "loss": "nemo",
        "lr_scale_distance": 0.2,
        "lr_scale_offset": 0.2,
    },
}
