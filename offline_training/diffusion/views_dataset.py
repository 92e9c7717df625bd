"""Posed views of single object images, written as a BOP dataset (paper 000 Sec. 3.1).

Layout (``OUT``)::

    OUT/instances.json            one entry per instance: name, obj_id, the views, the label
                                  distance, the input's elevation, and when the input image is
                                  synthetic its true orientation (for evaluation and the
                                  category frame only; training never reads it)
    OUT/models/models_info.json   one "model" per instance: its category and the instance
                                  sphere's size (no symmetries: instance frames are not the
                                  category's canonical frame)
    OUT/train/<obj_id - 1>/       one BOP scene per instance, one image per view

Each view is labelled in its instance's frame (:mod:`.views`): ``cam_R_m2c = R_m`` (LookAt of
the relative angles, Eqs. 2-3 with ``P_y = I``) and ``cam_t_m2c = (0, 0, d)``, the same ``d``
for every view of an instance: the distance at which the instance sphere (radius
:func:`instance_radius`) projects as large as the object appears, ``d = f r / r_px`` with
``r_px`` the median over the views of half the longer side of the object's box. The object is
pasted over a background drawn per view (the data engine's procedural kinds, or photos):
generators return it on white, and an encoder trained on white backgrounds would not see objects
on a robot's table.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from offline_training.diffusion.generators import ObjectImage, ViewGenerator
from offline_training.diffusion.views import RelativeView
from offline_training.synthetic.backgrounds import make_background, sample_background
from offline_training.synthetic.bop import MM, BopWriter
from offline_training.synthetic.render import bop_bbox
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError

__all__ = ["INSTANCES_FILE", "instance_radius", "read_instances", "write_views_dataset"]

INSTANCES_FILE = "instances.json"


def instance_radius(category: str, margin: float = 0.05) -> float:
    """Radius (m) of the geodesic sphere of every instance mesh: half the longest side of the
    category template's box, enlarged by ``margin``."""
    from ros_pose_estimation.shapes import template_mesh

    return 0.5 * float(template_mesh(category).extents.max()) * (1.0 + margin)


def _label_distance(masks: list[np.ndarray], f: float, radius: float) -> float:
    halves = []
    for m in masks:
        ys, xs = np.nonzero(m)
        if len(xs):
            halves.append(0.5 * max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
    if not halves:
        raise ConfigError("no generated view shows the object (all masks empty)")
    return f * radius / float(np.median(halves))


def write_views_dataset(
    out: str | Path,
    category: str,
    objects: list[ObjectImage],
    generator: ViewGenerator,
    views: list[RelativeView],
    seed: int = 0,
    hfov_deg: float = 40.0,
    background_paths: tuple[str, ...] = (),
    margin: float = 0.05,
    progress: bool = True,
) -> dict:
    """Generate ``views`` of every object with ``generator`` and write them to ``out`` (see the
    module doc); returns the instances index. ``hfov_deg``: horizontal field of view of the
    generated images' virtual camera (the ``render`` generator's objects carry their own)."""
    out = Path(out)
    if (out / "train").exists() and any((out / "train").iterdir()):
        raise FileExistsError(f"{out}/train is not empty; choose another --out")
    if not objects or not views:
        raise ConfigError("need at least one object and one view")
    cat = get_category(category)
    radius = instance_radius(cat.name, margin)
    entries = []
    items = enumerate(objects)
    if progress:
        from tqdm import tqdm

        items = tqdm(items, total=len(objects), desc=f"{generator.name} views", unit="object")
    with BopWriter(out, "train") as writer:
        for y, obj in items:
            generated = generator.generate(obj, views, seed=seed + y)
            h, w = generated[0].rgb.shape[:2]
            intr = getattr(obj.source, "intrinsics", None) or Intrinsics.from_hfov(w, h, hfov_deg)
            f, K = float(intr.fx), intr.K
            d = _label_distance([g.mask for g in generated], f, radius)
            rng = np.random.default_rng([seed, 3, y])
            for m, g in enumerate(generated):
                bg = make_background(sample_background(rng, background_paths), w, h)
                rgb = np.where(g.mask[..., None], g.rgb, bg)
                ys, xs = np.nonzero(g.mask)
                box = [int(v) for v in bop_bbox(xs, ys)] if len(xs) else [-1, -1, -1, -1]
                n = int(g.mask.sum())
                info = {"bbox_obj": box, "bbox_visib": box, "px_count_all": n,
                        "px_count_valid": n, "px_count_visib": n,
                        "visib_fract": 1.0 if n else 0.0}  # fmt: skip
                gt = {"obj_id": y + 1, "R": g.view.rotation, "t": np.array([0.0, 0.0, d]),
                      "mask": g.mask, "mask_visib": g.mask, "info": info}  # fmt: skip
                writer.add_frame(y, m, rgb, None, K, [gt])
            truth = getattr(obj.source, "R_cam_obj", None)
            entries.append({
                "obj_id": y + 1, "name": obj.name, "label_distance_m": d,
                "elevation_deg": obj.elevation_deg,
                "views": [asdict(v) for v in views],
                "R_frame_true": None if truth is None else np.asarray(truth).tolist(),
            })  # fmt: skip
    _write_models_info(out, cat.name, radius, len(objects))
    index = {"category": cat.name, "generator": generator.name, "instance_radius_m": radius,
             "hfov_deg": hfov_deg, "seed": seed, "instances": entries}  # fmt: skip
    (out / INSTANCES_FILE).write_text(json.dumps(index, indent=1))
    return index


def _write_models_info(out: Path, category: str, radius: float, n: int) -> None:
    side = 2.0 * radius * MM
    info = {"diameter": side, "category": category}
    info.update({f"min_{a}": -side / 2 for a in "xyz"})
    info.update({f"size_{a}": side for a in "xyz"})
    (out / "models").mkdir(parents=True, exist_ok=True)
    content = {str(k + 1): dict(info) for k in range(n)}
    (out / "models" / "models_info.json").write_text(json.dumps(content, indent=1))


def read_instances(root: str | Path) -> dict:
    """The instances index written by :func:`write_views_dataset`."""
    path = Path(root) / INSTANCES_FILE
    if not path.exists():
        raise ConfigError(f"{path} not found: {root} is not a views dataset (make one with "
                          "generate-views)")  # fmt: skip
    return json.loads(path.read_text())
