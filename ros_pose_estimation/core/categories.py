"""Object categories: names, class ids and symmetry groups.

This module is the code form of ``shared/notes/categories.md`` and the single place the rest of
the project asks "what is a mug?". Every canonical frame is right-handed, in metres, with the
origin at the centre of the object's axis-aligned bounding box and +z up in the natural resting
pose (x forward, y left, z up).

Symmetries are described as

* ``continuous_axes``: unit axes (in the canonical frame, through the origin) about which the
  object is rotationally symmetric by *any* angle (bottle, bowl, can: +z);
* ``discrete``: the finite group of proper rotations ``[K x 3 x 3]`` that map the object onto
  itself, always including the identity (box: identity and 180 deg about x, y and z).

Users can register custom categories with :func:`register_category`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np


def _rot_pi(axis: str) -> np.ndarray:
    """Rotation by 180 deg about a principal axis, ``[3 x 3]``."""
    diag = {"x": (1.0, -1.0, -1.0), "y": (-1.0, 1.0, -1.0), "z": (-1.0, -1.0, 1.0)}[axis]
    return np.diag(diag)


@dataclass(frozen=True, eq=False)
class Category:
    """A category of objects sharing a canonical frame.

    Attributes:
        name: lower-case identifier used in configs, messages (``class_id``) and file names.
        class_id: small positive integer, the default detector class id / BOP ``obj_id`` group.
        continuous_axes: ``[A x 3]`` unit axes of continuous rotational symmetry (A = 0 or 1).
        discrete: ``[K x 3 x 3]`` finite rotation symmetry group including the identity.
        description: one line for humans.
        x_longest_horizontal: the frame puts the longer horizontal edge on x (box): an
            estimator that measures the extents turns a pose whose y extent is longer by 90 deg
            about z (:func:`order_horizontal_extents`).
        cuboid: the object is a cuboid, so an instance whose extents across an axis agree
            (within :data:`EQUAL_EXTENT_TOL`: a square footprint) also maps onto itself by a
            quarter turn about that axis (:func:`instance_symmetries`).
        mirror_symmetric: every instance is its own mirror image across the model's xz plane
            (``y -> -y``), so a left-right mirrored image of one is an image of the same
            instance at the mirrored pose (training's mirror augmentation); False for the
            camera, whose grip and lens sit off to one side (and by default for a category
            registered at run time).
    """

    name: str
    class_id: int
    continuous_axes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    discrete: np.ndarray = field(default_factory=lambda: np.eye(3)[None])
    description: str = ""
    x_longest_horizontal: bool = False
    cuboid: bool = False
    mirror_symmetric: bool = False

    @property
    def has_continuous_symmetry(self) -> bool:
        return len(self.continuous_axes) > 0

    @property
    def is_symmetric(self) -> bool:
        return self.has_continuous_symmetry or len(self.discrete) > 1


_Z = np.array([[0.0, 0.0, 1.0]])

_BUILTIN = (
    Category("bottle", 1, _Z, np.eye(3)[None], "body of revolution: body, shoulder, neck",
             mirror_symmetric=True),
    Category("bowl", 2, _Z, np.eye(3)[None], "open body of revolution, wider than tall",
             mirror_symmetric=True),
    Category("camera", 3, description="body box + cylindrical lens along +x"),
    Category("can", 4, _Z, np.eye(3)[None], "closed cylinder", mirror_symmetric=True),
    Category("laptop", 5, description="base + screen hinged along y at the back, x to the front",
             mirror_symmetric=True),
    Category("mug", 6, description="open cylinder with one handle on +x", mirror_symmetric=True),
    Category(
        "box",
        7,
        discrete=np.stack([np.eye(3), _rot_pi("x"), _rot_pi("y"), _rot_pi("z")]),
        description="cuboid, longest horizontal edge along x",
        x_longest_horizontal=True,
        cuboid=True,
        mirror_symmetric=True,
    ),
)

_REGISTRY: dict[str, Category] = {c.name: c for c in _BUILTIN}

#: The built-in category names, in class-id order.
BUILTIN_CATEGORIES: tuple[str, ...] = tuple(c.name for c in _BUILTIN)


#: Two extents of a cuboid that differ by less than this share of the larger one count as
#: equal (:func:`instance_symmetries`): 1 % is 3 mm on a 30 cm box, under what a camera
#: resolves on it at a robot's working distances.
EQUAL_EXTENT_TOL = 0.01


def _quarter_turn(k: int) -> np.ndarray:
    """Rotation by +90 deg about principal axis ``k`` (0, 1, 2), ``[3 x 3]``."""
    i, j = (k + 1) % 3, (k + 2) % 3
    R = np.zeros((3, 3))
    R[k, k], R[j, i], R[i, j] = 1.0, 1.0, -1.0
    return R


def instance_symmetries(category: Category, size: np.ndarray | None,
                        tolerance: float = EQUAL_EXTENT_TOL) -> np.ndarray:  # fmt: skip
    """``[K x 3 x 3]`` the rotation symmetry group of one instance with extents ``size``
    (``[3]``, m, along the model axes; None: the category's).

    The category's ``discrete`` group, and for a ``cuboid`` category the quarter turn about
    each axis whose two perpendicular extents agree within ``tolerance`` (a share of the
    larger one; default :data:`EQUAL_EXTENT_TOL`), closed under composition (a box with a
    square footprint: 8 rotations; a cube: 24). The box's frame puts its longer horizontal
    edge on x; with a square footprint that choice is arbitrary, and a pose a quarter turn
    away shows the same box.
    """
    group = np.asarray(category.discrete, dtype=np.float64).reshape(-1, 3, 3)
    if size is None or not category.cuboid or not tolerance > 0:
        return group
    ext = np.asarray(size, dtype=np.float64).reshape(3)
    axes = tuple(k for k in range(3)
                 if abs(ext[(k + 1) % 3] - ext[(k + 2) % 3])
                 <= tolerance * max(ext[(k + 1) % 3], ext[(k + 2) % 3]))  # fmt: skip
    return _closed_group(category, axes) if axes else group


@functools.lru_cache(maxsize=64)
def _closed_group(category: Category, axes: tuple[int, ...]) -> np.ndarray:
    """``[K x 3 x 3]`` ``category.discrete`` with the quarter turns about ``axes``, closed under
    composition (cached: the tracker asks once per box and frame; read-only)."""
    generators = [_quarter_turn(k) for k in axes] + list(category.discrete)
    members = [np.asarray(g, dtype=np.float64) for g in category.discrete]
    frontier = list(members)
    while frontier:  # products of the members with the generators
        new = []
        for g in frontier:
            for h in generators:
                p = np.round(g @ h, 9)
                if not any(np.allclose(p, m) for m in members):
                    members.append(p)
                    new.append(p)
        frontier = new
    out = np.stack(members)
    out.flags.writeable = False
    return out


class UnknownCategoryError(KeyError):
    """Raised when a category name is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown category"


def order_horizontal_extents(
    category: Category, R: np.ndarray, size: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For a category whose frame puts the longer horizontal edge on x (``box``): when the
    measured ``size [3]`` (m) is longer along y, the same object in that convention, i.e.
    ``R Rz(90 deg)`` (model -> camera ``[3 x 3]``) with x and y extents swapped; otherwise (and
    for every other category) ``R, size`` unchanged."""
    size = np.asarray(size, dtype=np.float64)
    if not category.x_longest_horizontal or size[0] >= size[1]:
        return np.asarray(R, dtype=np.float64), size
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # new x = old y
    return np.asarray(R, dtype=np.float64) @ quarter, size[[1, 0, 2]]


def get_category(name: str) -> Category:
    """Return the registered category called ``name`` (case-insensitive)."""
    key = name.strip().lower()
    try:
        return _REGISTRY[key]
    except KeyError:
        raise UnknownCategoryError(
            f"unknown category {name!r}; registered: {', '.join(sorted(_REGISTRY))}"
        ) from None


def list_categories() -> list[str]:
    """Names of all registered categories, built-in first."""
    return list(_REGISTRY)


def register_category(
    name: str,
    class_id: int,
    continuous_axes: np.ndarray | None = None,
    discrete: np.ndarray | None = None,
    description: str = "",
    overwrite: bool = False,
) -> Category:
    """Register a user category (defined by a template mesh in the canonical convention).

    Args:
        name: identifier, lower case.
        class_id: positive integer, unique among registered categories.
        continuous_axes: ``[A x 3]`` symmetry axes (normalised here), or None.
        discrete: ``[K x 3 x 3]`` rotation group; the identity is added when missing.
        overwrite: replace an existing category of the same name.
    """
    key = name.strip().lower()
    if not key:
        raise ValueError("category name must not be empty")
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"category {key!r} is already registered (pass overwrite=True)")
    if class_id <= 0:
        raise ValueError(f"class_id must be positive, got {class_id}")
    for other in _REGISTRY.values():
        if other.class_id == class_id and other.name != key:
            raise ValueError(f"class_id {class_id} is already used by {other.name!r}")
    axes = np.zeros((0, 3)) if continuous_axes is None else np.asarray(continuous_axes, float)
    axes = axes.reshape(-1, 3)
    if len(axes):
        axes = axes / np.linalg.norm(axes, axis=1, keepdims=True)
    group = np.eye(3)[None] if discrete is None else np.asarray(discrete, float).reshape(-1, 3, 3)
    for rot in group:
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-6) or np.linalg.det(rot) < 0:
            raise ValueError("discrete symmetries must be proper rotations (R R^T = I, det +1)")
    if not any(np.allclose(rot, np.eye(3), atol=1e-9) for rot in group):
        group = np.concatenate([np.eye(3)[None], group])
    cat = Category(key, class_id, axes, group, description)
    _REGISTRY[key] = cat
    return cat
