"""Synthetic scenes: category instances standing on a table, lit by a few directional lights.

World frame: z up, metres. The table top is the plane ``z = table.height`` (0 by default); every
object stands in its natural resting pose (canonical +z along world +z), rotated by a random yaw
about world z, with its lowest vertex touching the table top. Footprints (the circle around the
object's z axis that contains its vertices) never overlap, so objects may occlude each other in
the image but never interpenetrate.

Camera helpers (:func:`look_at`, :func:`camera_on_sphere`, :func:`sample_camera_pose`,
:func:`fit_distance`) live in :mod:`.views` and are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.mesh import TriMesh

from .backgrounds import BackgroundSpec, sample_background
from .gloss import Gloss
from .textures import TextureSpec, sample_texture
from .views import camera_on_sphere, fit_distance, look_at, sample_camera_pose  # noqa: F401


@dataclass
class ObjectModel:
    """One object instance: BOP ``obj_id`` (>= 1), category name and canonical mesh (m)."""

    obj_id: int
    category: str
    mesh: TriMesh


@dataclass
class SceneObject:
    """An instance placed in a scene.

    Attributes:
        category: category name.
        obj_id: BOP model id of the instance.
        mesh: mesh in the object's canonical frame (m).
        T_world_obj: ``[4 x 4]`` pose of the canonical frame in the world.
        texture: albedo texture, evaluated in the canonical frame.
        gloss: its highlight (:class:`.gloss.Gloss`), or None for a matte object.
    """

    category: str
    obj_id: int
    mesh: TriMesh
    T_world_obj: np.ndarray
    texture: TextureSpec
    gloss: Gloss | None = None


@dataclass
class Table:
    """Support surface: a slab of ``size`` (x, y) m whose top is at world ``z = height``,
    centred at ``center`` (x, y) m, ``thickness`` m thick, with a texture in world coordinates."""

    size: tuple[float, float]
    texture: TextureSpec
    height: float = 0.0
    center: tuple[float, float] = (0.0, 0.0)
    thickness: float = 0.03

    def mesh(self) -> TriMesh:
        """The slab as a closed box mesh in world coordinates (outward CCW faces)."""
        (sx, sy), (cx, cy) = self.size, self.center
        lo = np.array([cx - sx / 2, cy - sy / 2, self.height - self.thickness])
        hi = np.array([cx + sx / 2, cy + sy / 2, self.height])
        return box_mesh(lo, hi)


@dataclass
class Light:
    """Directional light: unit ``direction`` ``[3]`` (world) from the surface towards the light,
    ``intensity`` (1 = a surface facing it gets its full albedo) and RGB ``color`` ``[3]``."""

    direction: np.ndarray
    intensity: float = 1.0
    color: np.ndarray = field(default_factory=lambda: np.ones(3))


@dataclass
class Scene:
    """Everything the renderer needs except the camera.

    Attributes:
        objects: the placed instances; their index is the value in the instance image.
        table: support surface, or None for objects floating over the background.
        background: procedural spec, an ``[H x W x 3]`` uint8 image (resized as needed), or
            None for black.
        lights: directional lights.
        ambient: ambient light level (added to every surface, unshadowed).
        reflected: lights seen only in glossy objects' highlights (:mod:`.gloss`).
    """

    objects: list[SceneObject]
    table: Table | None = None
    background: BackgroundSpec | np.ndarray | None = None
    lights: list[Light] = field(default_factory=list)
    ambient: float = 0.3
    reflected: list[Light] = field(default_factory=list)

    def objects_bounds(self) -> np.ndarray:
        """``[2 x 3]`` world AABB (m) of all object vertices."""
        pts = np.concatenate([o.mesh.transformed(o.T_world_obj).vertices for o in self.objects])
        return np.stack([pts.min(0), pts.max(0)])

    @property
    def center(self) -> np.ndarray:
        """``[3]`` centre (m, world) of the objects' AABB: where cameras should look."""
        lo, hi = self.objects_bounds()
        return 0.5 * (lo + hi)

    def center_and_radius(self) -> tuple[np.ndarray, float]:
        """Centre ``[3]`` of the objects' world AABB and the radius (m) of its bounding sphere."""
        lo, hi = self.objects_bounds()
        return 0.5 * (lo + hi), 0.5 * float(np.linalg.norm(hi - lo))


def box_mesh(lo: np.ndarray, hi: np.ndarray) -> TriMesh:
    """Axis-aligned closed box from corner ``lo`` ``[3]`` to ``hi`` ``[3]`` (m), 12 outward
    triangles."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[(hi if (i >> k) & 1 else lo)[k] for k in range(3)] for i in range(8)])
    faces = [
        [0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6],  # -z, +z
        [0, 1, 4], [1, 5, 4], [2, 6, 3], [3, 6, 7],  # -y, +y
        [0, 4, 2], [2, 4, 6], [1, 3, 5], [3, 7, 5],  # -x, +x
    ]  # fmt: skip
    return TriMesh(corners, np.array(faces))


def yaw_pose(yaw: float, xyz: np.ndarray) -> np.ndarray:
    """``[4 x 4]`` rotation by ``yaw`` rad about z followed by translation ``xyz`` ``[3]``."""
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = xyz
    return T


def sample_lights(rng: np.random.Generator, n: tuple[int, int] = (1, 3)) -> list[Light]:
    """A few directional lights from above (elevation 20-90 deg), slightly tinted, total
    intensity 0.5-1.0."""
    k = int(rng.integers(n[0], n[1] + 1))
    total = rng.uniform(0.5, 1.0)
    share = rng.dirichlet(np.ones(k)) * total
    lights = []
    for i in range(k):
        az, el = rng.uniform(0, 2 * np.pi), np.deg2rad(rng.uniform(20, 90))
        d = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        lights.append(Light(d, float(share[i]), 1.0 - 0.2 * rng.random(3)))
    return lights


def _place(radii: np.ndarray, rng: np.random.Generator, gap: float, spread: float) -> np.ndarray:
    """Non-overlapping disc centres ``[N x 2]`` (m) for footprint ``radii`` ``[N]`` (m)."""
    region = spread * max(0.02, 1.2 * np.sqrt(np.sum((radii + gap) ** 2)))
    centres: list[np.ndarray] = []
    for r in radii:
        while True:
            for _ in range(100):
                a, rho = rng.uniform(0, 2 * np.pi), region * np.sqrt(rng.random())
                c = rho * np.array([np.cos(a), np.sin(a)])
                placed = zip(centres, radii[: len(centres)], strict=True)
                if all(np.linalg.norm(c - o) >= r + ro + gap for o, ro in placed):
                    centres.append(c)
                    break
            else:
                region *= 1.25  # too crowded: widen the region and retry
                continue
            break
    return np.array(centres).reshape(-1, 2)


def sample_scene(
    categories: Sequence[str],
    rng: np.random.Generator,
    n_objects: int = 1,
    models: Mapping[str, Sequence[ObjectModel]] | None = None,
    table_size: tuple[float, float] = (0.5, 1.5),
    with_table: bool = True,
    background_paths: Sequence[str] = (),
    gap: float = 0.005,
    spread: float = 1.0,
    cycle_categories: bool = False,
    instances: Sequence[SceneObject] | None = None,
) -> Scene:
    """Random scene of ``n_objects`` instances standing on a table.

    Args:
        categories: category names; each object's category is drawn uniformly from them.
        rng: random generator (the scene is a deterministic function of its state).
        n_objects: number of objects (>= 1).
        models: optional pool of instances per category to draw from (e.g. the dataset's saved
            models); without it a fresh instance is made by ``shapes.make_instance`` and gets
            the category's ``class_id`` as ``obj_id``.
        table_size: range (m) of the table's side lengths (enlarged to hold the objects).
        with_table: False leaves the objects floating over the background (paper 001 Eq. 1).
        background_paths: optional photos to draw backgrounds from (see ``sample_background``).
        gap: minimum clearance (m) between footprints.
        spread: > 1 spreads the objects further apart, < 1 packs them (more occlusion).
        cycle_categories: object k takes ``categories[k % len(categories)]`` instead of a random
            one (e.g. exactly one object of each category).
        instances: exactly these objects (shape, ``obj_id`` and texture; their poses are
            ignored), placed anew: the same physical objects in another arrangement (e.g. a
            second recording of them). ``categories``, ``n_objects`` and ``models`` are then
            not used.
    """
    if instances is not None:
        if not instances:
            raise ValueError("instances must hold at least one object")
        chosen = [ObjectModel(o.obj_id, o.category, o.mesh) for o in instances]
        scene = _arrange(chosen, [o.texture for o in instances], rng, table_size, with_table,
                         background_paths, gap, spread)  # fmt: skip
        for placed, given in zip(scene.objects, instances, strict=True):
            placed.gloss = given.gloss  # the same physical objects: the same surfaces
        return scene
    if n_objects < 1:
        raise ValueError(f"n_objects must be >= 1, got {n_objects}")
    if not categories:
        raise ValueError("sample_scene needs at least one category")
    chosen: list[ObjectModel] = []
    for k in range(n_objects):
        pick = (
            categories[k % len(categories)] if cycle_categories else rng.choice(list(categories))
        )
        cat = get_category(str(pick)).name
        if models is not None and models.get(cat):
            pool = models[cat]
            chosen.append(pool[int(rng.integers(len(pool)))])
        else:
            from ros_pose_estimation.shapes import make_instance

            mesh = make_instance(cat, rng=rng)
            chosen.append(ObjectModel(get_category(cat).class_id, cat, mesh))
    return _arrange(chosen, None, rng, table_size, with_table, background_paths, gap, spread)


def _arrange(chosen, textures, rng, table_size, with_table, background_paths, gap,
             spread) -> Scene:  # fmt: skip
    """:func:`sample_scene` after the instances are chosen: placement, yaw, textures (drawn
    unless ``textures`` gives them), table, background and lights."""
    radii = np.array([np.linalg.norm(m.mesh.vertices[:, :2], axis=1).max() for m in chosen])
    centres = _place(radii, rng, gap, spread)
    height = 0.0
    objects = []
    for i, (model, c) in enumerate(zip(chosen, centres, strict=True)):
        z = height - model.mesh.vertices[:, 2].min()
        pose = yaw_pose(rng.uniform(0, 2 * np.pi), np.array([c[0], c[1], z]))
        texture = sample_texture(rng, size=float(model.mesh.extents.max()))
        if textures is not None:  # the given objects keep their look (the draw above stays)
            texture = textures[i]
        objects.append(SceneObject(model.category, model.obj_id, model.mesh, pose, texture))
    table = None
    if with_table:
        need = 2.0 * (np.abs(centres).max(0) + radii.max()) + 0.1
        size = np.maximum(rng.uniform(*table_size, size=2), need)
        offset = (rng.random(2) - 0.5) * (size - need)
        kinds = ("flat", "noise", "marble", "checker")
        tex = sample_texture(rng, size=float(size.max()), kinds=kinds)
        table = Table((float(size[0]), float(size[1])), tex, height, tuple(offset.tolist()))
    return Scene(
        objects=objects,
        table=table,
        background=sample_background(rng, background_paths),
        lights=sample_lights(rng),
        ambient=float(rng.uniform(0.15, 0.45)),
    )
