"""Procedural category shapes in the canonical frames of ``shared/notes/categories.md``.

Every generator returns meshes in metres, +z up, with the origin at the centre of the
axis-aligned bounding box and +x as the category table says (mug: towards the handle; laptop:
from the hinge to the front edge; camera: along the lens; box: longest horizontal edge). Parts
are closed meshes with outward (counter-clockwise) faces.

Usage::

    rng = np.random.default_rng(0)
    params = sample_params("mug", rng)          # readable, JSON-serialisable dict
    mesh = make_instance("mug", params=params)  # TriMesh, bbox centre at the origin
    prior = template_mesh("mug")                # the typical instance (shape prior)
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.shapes import bottle, bowl, box, camera, can, laptop, mug
from ros_pose_estimation.shapes.params import mean_table, resolve, sample_table

_GENERATORS: dict[str, ModuleType] = {
    "bottle": bottle,
    "bowl": bowl,
    "camera": camera,
    "can": can,
    "laptop": laptop,
    "mug": mug,
    "box": box,
}

#: Categories with a procedural generator, in class-id order of ``core.categories``.
SHAPE_CATEGORIES: tuple[str, ...] = tuple(_GENERATORS)


def _generator(category: str) -> ModuleType:
    key = category.strip().lower()
    if key not in _GENERATORS:
        raise ConfigError(
            f"no shape generator for category {category!r}; supported: {', '.join(_GENERATORS)}"
        )
    return _GENERATORS[key]


def parameter_table(category: str) -> dict:
    """The category's parameter specs: name -> ``Uniform(lo, hi, doc)`` or ``Choice``."""
    return dict(_generator(category).PARAMS)


def sample_params(category: str, rng: np.random.Generator) -> dict:
    """Draw the parameters of one random instance (floats in metres / degrees / ratios)."""
    return sample_table(_generator(category).PARAMS, rng)


def typical_params(category: str) -> dict:
    """Parameters of the typical instance (range midpoints, typical choices)."""
    return mean_table(_generator(category).PARAMS)


def make_parts(
    category: str, rng: np.random.Generator | None = None, params: dict | None = None
) -> dict[str, TriMesh]:
    """Named closed parts of one instance (e.g. mug: body, handle), jointly re-centred.

    ``params`` (missing names take typical values) wins over ``rng``; with neither, the
    typical instance is built.
    """
    gen = _generator(category)
    if params is None and rng is not None:
        params = sample_table(gen.PARAMS, rng)
    parts = gen.build(resolve(gen.PARAMS, params))
    centre = TriMesh.concatenate(list(parts.values())).center
    return {name: TriMesh(m.vertices - centre, m.faces) for name, m in parts.items()}


def make_instance(
    category: str, rng: np.random.Generator | None = None, params: dict | None = None
) -> TriMesh:
    """One instance as a single mesh (parts concatenated, not welded), bbox centre at origin."""
    return TriMesh.concatenate(list(make_parts(category, rng, params).values()))


def template_mesh(category: str) -> TriMesh:
    """The typical instance of ``category``, used as its shape prior."""
    return make_instance(category)


def load_category_template(
    path: str | os.PathLike,
    name: str,
    scale: float = 1.0,
    class_id: int | None = None,
    continuous_axes: np.ndarray | None = None,
    discrete: np.ndarray | None = None,
    description: str = "",
) -> TriMesh:
    """Load a user's template mesh for category ``name``, re-centred on its bbox centre.

    The file must already be in the canonical convention (+z up, +x as the category defines);
    ``scale`` converts its units to metres (``1e-3`` for millimetres). With ``class_id`` the
    category is also registered with its symmetries (see
    :func:`ros_pose_estimation.core.categories.register_category`).
    """
    from ros_pose_estimation.core.categories import register_category
    from ros_pose_estimation.core.mesh_io import load_mesh

    mesh = load_mesh(path, scale=scale, center=True)
    if class_id is not None:
        register_category(name, class_id, continuous_axes, discrete, description)
    return mesh


__all__ = [
    "SHAPE_CATEGORIES",
    "load_category_template",
    "make_instance",
    "make_parts",
    "parameter_table",
    "sample_params",
    "template_mesh",
    "typical_params",
]
