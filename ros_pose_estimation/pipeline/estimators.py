"""Which estimator serves which category: the node's model table, loaded once on configure.

* :class:`ModelSpec`: one category model: checkpoint file, method (``"nemo"`` RGB
  render-and-compare, ``"cse"`` RGB-D surface embedding) and the detector class ids mapped to it.
* :func:`resolve_path`: where a relative checkpoint path is looked up.
* :func:`load_estimators`: build one estimator per method from the specs (checkpoints loaded
  once, strictly, with ``weights_only=True``); every estimator offers the same call
  (:class:`~ros_pose_estimation.core.estimation.Estimator`).

Errors: configuration problems raise :class:`ConfigError` / :class:`CheckpointError` (the
node's configure step fails and says why).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ros_pose_estimation.core.categories import UnknownCategoryError, get_category
from ros_pose_estimation.core.errors import CheckpointError, ConfigError
from ros_pose_estimation.core.estimation import Estimator

METHODS = ("nemo", "cse")

#: The source checkout (the folder holding ``ros_pose_estimation/``): the last place relative
#: checkpoint paths are looked up.
CHECKOUT = Path(os.path.abspath(__file__)).parents[2]


@dataclass
class ModelSpec:
    """One category model of the node.

    Attributes:
        category: project category name (``core.categories``).
        checkpoint: path of the model file.
        method: ``"nemo"`` (RGB) or ``"cse"`` (RGB-D, needs depth).
        class_ids: detector class ids mapped to this category (default: the category name).
    """

    category: str
    checkpoint: str
    method: str = "nemo"
    class_ids: list[str] = field(default_factory=list)

    def validate(self) -> None:
        try:
            self.category = get_category(self.category).name
        except UnknownCategoryError as exc:
            raise ConfigError(str(exc)) from None
        if self.method not in METHODS:
            raise ConfigError(
                f"models.{self.category}.method: expected one of {METHODS}, got {self.method!r}"
            )
        if not self.checkpoint:
            raise ConfigError(f"models.{self.category}.checkpoint: no checkpoint file given")
        found = resolve_path(self.checkpoint)
        if found is None:
            raise CheckpointError(
                f"models.{self.category}.checkpoint: no file at {self.checkpoint!r} (relative "
                "paths are looked up in the working directory, the installed package's share "
                "directory and the source checkout); train one with `train-nemo` or point the "
                "parameter at an existing .pt file"
            )
        self.checkpoint = found
        if not self.class_ids:
            self.class_ids = [self.category]


def resolve_path(path: str) -> str | None:
    """An existing file for ``path``: absolute paths as given; relative ones in the working
    directory, then ``share/ros_pose_estimation/`` of the installed package (where the bundled
    models are installed), then the source checkout. None when none exists."""
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path if os.path.isfile(path) else None
    roots = [os.getcwd()]
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError:  # plain pip install without ament_index: cwd and checkout only
        pass
    else:
        try:
            roots.append(get_package_share_directory("ros_pose_estimation"))
        except (PackageNotFoundError, OSError):
            pass  # not installed into an ament prefix, or no ROS environment (no prefix path)
    roots.append(str(CHECKOUT))
    for root in roots:
        candidate = os.path.join(root, path)
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None


def load_estimators(
    specs: Sequence[ModelSpec],
    device: str = "cpu",
    preset: str = "default",
    view_correction: bool = True,
    upright: bool = True,
    stand_on_support: bool = True,
    solve_without_depth: bool = True,
    dark_objects: bool = False,
) -> dict[str, Estimator]:
    """Load the models of ``specs``; returns category -> estimator (one estimator object per
    method, shared by its categories). ``preset``: NeMo's search; ``view_correction``: apply
    the viewpoint bias corrections the checkpoints carry (NeMo: rotation; CSE: rotation and
    box centre; :mod:`ros_pose_estimation.core.view_correction`); ``upright``: look at rolled
    objects through a camera turned upright (both methods, :mod:`ros_pose_estimation.core.
    upright`); ``stand_on_support``: the tabletop prior, CSE's on the surface around each
    object (:attr:`~ros_pose_estimation.cse.estimator.CseInferenceConfig.upright_on_support`,
    ``laptop_on_surface``, and the table's pixels at a mask's rim, ``mask_support_plane``)
    and under gravity (``stand_on_gravity``), NeMo's under gravity
    (:attr:`~ros_pose_estimation.nemo.presets.InferenceConfig.stand_upright`), gravity when
    the node knows it;
    ``solve_without_depth``: CSE's pose from the image where the object has too little depth
    (:attr:`~ros_pose_estimation.cse.estimator.CseInferenceConfig.image_pose`);
    ``dark_objects``: CSE's dark objects under box-only detections
    (:attr:`~ros_pose_estimation.cse.estimator.CseInferenceConfig.dark_surface_share` 0.7).

    Raises:
        ConfigError: no specs, a category twice, unknown method or preset.
        CheckpointError: a missing, corrupt or wrong-category checkpoint (message names it).
    """
    if not specs:
        raise ConfigError("no category models configured (parameter `categories` is empty)")
    seen: set[str] = set()
    for spec in specs:
        spec.validate()
        if spec.category in seen:
            raise ConfigError(f"category {spec.category!r} configured twice")
        seen.add(spec.category)
    by_category: dict[str, Estimator] = {}
    nemo = [s for s in specs if s.method == "nemo"]
    if nemo:
        from ros_pose_estimation.nemo import InferenceConfig, NemoEstimator
        from ros_pose_estimation.nemo.checkpoint import load_checkpoint

        models = {}
        for spec in nemo:
            model, _ = load_checkpoint(spec.checkpoint, device=device)
            if model.category != spec.category:
                raise CheckpointError(
                    f"models.{spec.category}.checkpoint: {spec.checkpoint!r} holds a "
                    f"{model.category!r} model, not {spec.category!r}"
                )
            models[spec.category] = model
        config = InferenceConfig.named(preset).replace(
            view_correction=view_correction, upright=upright, stand_upright=stand_on_support
        )
        nemo_estimator = NemoEstimator(models, config, device)
        by_category.update(dict.fromkeys(models, nemo_estimator))
    cse = [s for s in specs if s.method == "cse"]
    if cse:
        try:
            from ros_pose_estimation.cse.estimator import CseEstimator
        except ImportError as exc:
            raise ConfigError(f"method 'cse' is not available in this build: {exc}") from None
        from ros_pose_estimation.cse.estimator import CseInferenceConfig

        cse_config = CseInferenceConfig(
            view_correction=view_correction, upright=upright,
            upright_on_support=stand_on_support, laptop_on_surface=stand_on_support,
            stand_on_gravity=stand_on_support,
            mask_support_plane=None if stand_on_support else False,
            image_pose=solve_without_depth,
            dark_surface_share=0.7 if dark_objects else 1.0,
        )  # fmt: skip
        cse_estimator = CseEstimator.from_checkpoints([s.checkpoint for s in cse], cse_config,
                                                      device=device)  # fmt: skip
        missing = {s.category for s in cse} - set(cse_estimator.categories)
        if missing:
            raise CheckpointError(f"cse checkpoints do not hold categories {sorted(missing)}")
        by_category.update(dict.fromkeys((s.category for s in cse), cse_estimator))
    return by_category
