"""Generate a synthetic BOP RGB-D dataset of procedural category instances (paper 001 Eq. 1).

Per category, ``instances`` shapes are drawn once (``shapes.make_instance``) and saved to
``models/``; every image then places 1-3 of them on a randomly textured table, with random
textures, lights, background (independent of the category) and camera, renders RGB, depth,
masks and poses, and writes them in the BOP layout of :mod:`.bop`. BOP scene folders hold
``images_per_scene`` images each; a new object layout is drawn every ``views_per_layout`` images
(> 1 gives several views of the same arrangement, useful for multi-view/cycle losses).

Determinism: instance ``k`` of category ``c`` uses the generator ``[seed, 0, class_id, k]`` and
layout ``j`` uses ``[seed, 1, j]``, so a dataset is reproducible from its config and a layout
does not depend on the ones before it. Glossy objects (``gloss``, :mod:`.gloss`) draw from
``[seed, 3, j]`` and a look (``look``, :mod:`.look`) from ``[seed, 2, image]``: neither changes
the geometry or the labels of the same seed without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category

from .bop import BopWriter
from .gloss import GlossConfig, sample_gloss, sample_reflected
from .look import Look, apply_look
from .render import render
from .scene import Light, ObjectModel, sample_scene
from .sensor_noise import SensorNoise
from .views import fit_distance, sample_camera_pose


@dataclass
class DatasetConfig:
    """Settings of :func:`generate_dataset` (defaults: the ``generate-dataset`` CLI's)."""

    categories: list[str]
    out: str | Path
    instances: int = 50  # shapes per category
    images: int = 2000
    seed: int = 0
    width: int = 320
    height: int = 240
    hfov_deg: float = 60.0  # horizontal field of view; principal point at the image centre
    #: (lo, hi) deg: draw each image's horizontal field of view uniformly from this range
    #: (several cameras in one dataset; overrides ``hfov_deg``); None: every image uses hfov_deg
    hfov_range: tuple[float, float] | None = None
    objects_per_image: tuple[int, int] = (1, 3)  # inclusive range
    split: str = "train"
    noise: bool = True  # ``sensor`` on RGB and depth (ground truth stays exact)
    #: the sensor model applied when ``noise`` (default: ``SensorNoise()``, a mid-range
    #: RealSense/Kinect-like camera; :mod:`.sensor_noise` for another sensor's artefacts)
    sensor: SensorNoise = field(default_factory=SensorNoise)
    shadows: bool = True
    with_table: bool = True
    views_per_layout: int = 1
    images_per_scene: int = 1000
    elevation_deg: tuple[float, float] = (10.0, 80.0)
    fill: tuple[float, float] = (0.4, 0.9)  # scene bounding sphere / shorter image side
    #: cap on the camera's distance from the scene centre (m; e.g. a depth sensor's range):
    #: a spread-out layout that ``fill`` would put farther is framed closer; None: no cap
    max_distance: float | None = None
    background_images: list[str] = field(default_factory=list)  # optional photos
    rgb_ext: str = ".png"
    #: post-render appearance (a target domain's lighting, blur, noise, JPEG; :mod:`.look`);
    #: drawn from the generator ``[seed, 2, image index]``: geometry and labels unchanged
    look: Look = field(default_factory=Look)
    #: which objects are glossy (:mod:`.gloss`; default: none), drawn per layout from the
    #: generator ``[seed, 3, layout]``: geometry and labels unchanged
    gloss: GlossConfig = field(default_factory=GlossConfig)

    def intrinsics(self, hfov_deg: float | None = None) -> Intrinsics:
        """Pinhole intrinsics at ``hfov_deg`` (default :attr:`hfov_deg`), centred principal
        point."""
        hfov = self.hfov_deg if hfov_deg is None else hfov_deg
        return Intrinsics.from_hfov(self.width, self.height, hfov)

    def validate(self) -> None:
        if not self.categories:
            raise ValueError("at least one category is needed")
        for cat in self.categories:
            get_category(cat)  # raises UnknownCategoryError listing the known ones
        lo, hi = self.objects_per_image
        if not 1 <= lo <= hi:
            raise ValueError(f"objects_per_image must satisfy 1 <= lo <= hi, got {lo}..{hi}")
        for name, rng in (("hfov_range", self.hfov_range), ("fill", self.fill)):
            if rng is not None and not 0.0 < rng[0] <= rng[1]:
                raise ValueError(f"{name} must satisfy 0 < lo <= hi, got {rng[0]}..{rng[1]}")
        lo, hi = self.elevation_deg
        if not -90.0 <= lo <= hi <= 90.0:
            raise ValueError(f"elevation_deg must satisfy -90 <= lo <= hi <= 90, got {lo}..{hi}")
        if self.max_distance is not None and not self.max_distance > 0:
            raise ValueError(f"max_distance must be > 0 (m), got {self.max_distance}")
        if self.hfov_range is not None and self.hfov_range[1] >= 170.0:
            raise ValueError(f"hfov_range must stay below 170 deg, got {self.hfov_range}")
        for name in ("instances", "images", "views_per_layout", "images_per_scene"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        dx, dy = self.sensor.shift_px
        if not (abs(dx) < self.width and abs(dy) < self.height):  # NaN fails too
            raise ValueError(f"sensor shift_px (--depth-shift) {dx},{dy} must be finite and "
                             f"smaller than the {self.width} x {self.height} px image, or the "
                             "depth image is moved out of it")  # fmt: skip
        self.look.validate()
        self.gloss.validate()


@dataclass
class DatasetSummary:
    """What :func:`generate_dataset` wrote."""

    out: Path
    images: int = 0
    objects: int = 0
    models: int = 0
    per_category: dict[str, int] = field(default_factory=dict)  # placed objects per category
    visib_fract: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mean_visib_fract(self) -> float:
        return float(np.mean(self.visib_fract)) if self.visib_fract else 0.0

    def __str__(self) -> str:
        cats = ", ".join(f"{k}: {v}" for k, v in sorted(self.per_category.items()))
        rate = self.images / self.seconds if self.seconds > 0 else 0.0
        return (
            f"wrote {self.images} images with {self.objects} objects ({cats}) from {self.models} "
            f"models; mean visib_fract {self.mean_visib_fract:.3f}; {self.seconds:.1f} s "
            f"({rate:.1f} img/s) -> {self.out}"
        )


def build_models(categories: list[str], instances: int, seed: int) -> dict[str, list[ObjectModel]]:
    """``instances`` random shapes per category, with BOP ids 1, 2, ... in the given order."""
    from ros_pose_estimation.shapes import make_instance

    models: dict[str, list[ObjectModel]] = {}
    obj_id = 1
    for cat in dict.fromkeys(get_category(c).name for c in categories):  # unique, in order
        class_id = get_category(cat).class_id
        models[cat] = []
        for k in range(instances):
            mesh = make_instance(cat, rng=np.random.default_rng([seed, 0, class_id, k]))
            models[cat].append(ObjectModel(obj_id, cat, mesh))
            obj_id += 1
    return models


def generate_dataset(cfg: DatasetConfig, progress: bool = True) -> DatasetSummary:
    """Render ``cfg.images`` images into ``cfg.out`` (BOP layout); see the module doc."""
    cfg.validate()
    start = time.perf_counter()
    out = Path(cfg.out)
    split_dir = out / cfg.split
    if split_dir.exists() and any(split_dir.iterdir()):
        raise FileExistsError(f"{split_dir} is not empty; choose another --out or --split")
    models = build_models(cfg.categories, cfg.instances, cfg.seed)
    intr = cfg.intrinsics()
    noise = cfg.sensor if cfg.noise else None
    summary = DatasetSummary(out=out, models=sum(len(v) for v in models.values()))
    indices = range(cfg.images)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"rendering {cfg.split}", unit="img")
    with BopWriter(out, cfg.split, rgb_ext=cfg.rgb_ext) as writer:
        writer.write_models([m for pool in models.values() for m in pool])
        scene = None
        for i in indices:
            layout, view = divmod(i, cfg.views_per_layout)
            rng = np.random.default_rng([cfg.seed, 1, layout, view])
            if view == 0:
                n = int(rng.integers(cfg.objects_per_image[0], cfg.objects_per_image[1] + 1))
                scene = sample_scene(
                    list(models), rng, n, models=models, with_table=cfg.with_table,
                    background_paths=cfg.background_images,
                )  # fmt: skip
                if not cfg.gloss.is_off:  # own stream: the layout's draws stay unchanged
                    gloss_rng = np.random.default_rng([cfg.seed, 3, layout])
                    for obj, g in zip(scene.objects, sample_gloss(len(scene.objects), cfg.gloss,
                                                                  gloss_rng), strict=True):
                        obj.gloss = g
                    scene.reflected = [Light(d, i) for d, i in sample_reflected(gloss_rng)]
            if cfg.hfov_range is not None:  # drawn after the layout: layouts stay reproducible
                intr = cfg.intrinsics(float(rng.uniform(*cfg.hfov_range)))
            result, T_world_cam = _render_view(scene, intr, cfg, noise, rng)
            if not cfg.look.is_identity:  # own stream: the render's draws stay unchanged
                look_rng = np.random.default_rng([cfg.seed, 2, i])
                result.rgb = apply_look(result.rgb, cfg.look, look_rng)
            scene_id, im_id = divmod(i, cfg.images_per_scene)
            writer.add_render(scene_id, im_id, result, scene, T_world_cam)
            summary.images += 1
            for obj, vf in zip(scene.objects, result.visib_fract, strict=True):
                summary.objects += 1
                summary.per_category[obj.category] = summary.per_category.get(obj.category, 0) + 1
                summary.visib_fract.append(float(vf))
    summary.seconds = time.perf_counter() - start
    return summary


def _render_view(scene, intr: Intrinsics, cfg: DatasetConfig, noise, rng, tries: int = 10):
    """Render from a random camera; re-draw the camera (up to ``tries`` times) while no object
    is visible at all."""
    centre, radius = scene.center_and_radius()
    for _ in range(tries):
        fill = rng.uniform(*cfg.fill)
        dist = fit_distance(radius, intr.fx, intr.fy, intr.width, intr.height, fill)
        if cfg.max_distance is not None:
            dist = min(dist, cfg.max_distance)
        T_world_cam = sample_camera_pose(
            rng, centre, elevation_deg=cfg.elevation_deg, distance=(dist, dist),
            target_jitter=0.15 * radius,
        )  # fmt: skip
        result = render(scene, T_world_cam, intr, noise=noise, rng=rng, shadows=cfg.shadows)
        if result.px_count_visib.sum() > 0:
            break
    return result, T_world_cam
