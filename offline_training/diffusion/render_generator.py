"""The ``render`` view generator: the data engine's instance rendered at the requested view.

A perfect stand-in for Zero-1-to-3 (:mod:`.zero123`): the object keeps its shape and texture in
every view and each view is exactly at the pose its label says, so what paper 000's pipeline
reaches with it is an upper bound of what the diffusion model can give, measured on a CPU.

:func:`synthetic_objects` makes the single input image per instance: a procedural instance of
the category standing on a textured table under random lights, seen from a camera at a random
azimuth and ``elevation_deg`` above the table, looking at the object's centre (so the centred
camera of :mod:`.views` is the camera itself) from the distance at which the object fills
``fill`` of the image. :class:`RenderGenerator` renders the object alone, under the same lights,
on white (the framing of Zero-1-to-3's outputs), from the camera moved by the relative view
around the object centre (:func:`view_camera`).

Ground truth kept in :class:`SyntheticSource` (never used for training): the object's canonical
pose in the input camera, which defines the category frame of a merged model when the input
image is the annotated one (paper 000: "one pose annotation on an image").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from offline_training.diffusion.generators import GeneratedView, ObjectImage
from offline_training.diffusion.views import RelativeView
from offline_training.synthetic.render import render
from offline_training.synthetic.scene import (
    Scene,
    SceneObject,
    Table,
    fit_distance,
    sample_background,
    sample_lights,
    yaw_pose,
)
from offline_training.synthetic.textures import sample_texture
from offline_training.synthetic.views import camera_on_sphere
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError

__all__ = ["RenderGenerator", "SyntheticSource", "synthetic_objects", "view_camera"]


@dataclass
class SyntheticSource:
    """What the ``render`` generator needs: the scene (the object is ``scene.objects[0]``, its
    bbox centre at the canonical origin), the input camera ``T_world_cam`` ``[4 x 4]`` (m) and
    ``intrinsics`` of the input image (also used for the generated views)."""

    scene: Scene
    T_world_cam: np.ndarray
    intrinsics: Intrinsics

    @property
    def distance(self) -> float:
        """Input camera - object centre distance (m)."""
        centre = self.scene.objects[0].T_world_obj[:3, 3]
        return float(np.linalg.norm(self.T_world_cam[:3, 3] - centre))

    @property
    def R_cam_obj(self) -> np.ndarray:
        """``[3 x 3]`` canonical frame -> input camera: the instance frame's true orientation."""
        T = np.linalg.inv(self.T_world_cam) @ self.scene.objects[0].T_world_obj
        return T[:3, :3]


def view_camera(T_world_cam: np.ndarray, distance: float, view: RelativeView) -> np.ndarray:
    """``T_world_view`` ``[4 x 4]``: the input camera (looking at a point ``distance`` m ahead)
    moved around that point by ``view`` (:func:`.views.relative_rotation`): points map as
    ``x_view = R_m (x_cam - c) + c`` with ``c = (0, 0, distance)``."""
    c = np.array([0.0, 0.0, float(distance)])
    A = np.eye(4)
    A[:3, :3] = view.rotation
    A[:3, 3] = c - view.rotation @ c
    return np.asarray(T_world_cam, dtype=np.float64) @ np.linalg.inv(A)


def synthetic_objects(
    category: str,
    instances: int,
    seed: int = 0,
    size: int = 256,
    hfov_deg: float = 40.0,
    fill: float = 0.75,
    elevation_deg: tuple[float, float] = (10.0, 50.0),
    background_paths: tuple[str, ...] = (),
) -> list[ObjectImage]:
    """``instances`` procedural instances of ``category``, one input image each (see the module
    doc); instance ``k`` is drawn from ``rng([seed, 0, class_id, k])`` like the data engine's
    dataset instances, so another ``seed`` gives other instances."""
    from ros_pose_estimation.shapes import make_instance

    if instances < 1 or size < 16 or not 0.0 < fill <= 1.0:
        raise ConfigError(f"need instances >= 1, size >= 16, 0 < fill <= 1; got {instances}, "
                          f"{size}, {fill}")  # fmt: skip
    cat = get_category(category)
    intr = Intrinsics.from_hfov(size, size, hfov_deg)
    f = intr.fx
    out = []
    for k in range(instances):
        mesh = make_instance(cat.name, rng=np.random.default_rng([seed, 0, cat.class_id, k]))
        rng = np.random.default_rng([seed, 2, cat.class_id, k])
        z = -mesh.vertices[:, 2].min()
        pose = yaw_pose(rng.uniform(0, 2 * np.pi), np.array([0.0, 0.0, z]))
        texture = sample_texture(rng, size=float(mesh.extents.max()))
        obj = SceneObject(cat.name, k + 1, mesh, pose, texture)
        table_tex = sample_texture(rng, size=1.0, kinds=("flat", "noise", "marble", "checker"))
        scene = Scene(
            objects=[obj], table=Table((1.0, 1.0), table_tex),
            background=sample_background(rng, background_paths), lights=sample_lights(rng),
            ambient=float(rng.uniform(0.25, 0.45)),
        )  # fmt: skip
        radius = 0.5 * float(np.linalg.norm(mesh.extents))
        dist = fit_distance(radius, f, f, size, size, fill)
        elevation = float(rng.uniform(*elevation_deg))
        T_world_cam = camera_on_sphere(rng.uniform(0.0, 360.0), elevation, dist, pose[:3, 3])
        result = render(scene, T_world_cam, intr)
        out.append(ObjectImage(
            rgb=result.rgb, mask=result.instance == 0, name=f"{cat.name}_{k:04d}",
            elevation_deg=elevation, source=SyntheticSource(scene, T_world_cam, intr),
        ))  # fmt: skip
    return out


class RenderGenerator:
    """``render`` generator (see the module doc); ``generate`` needs objects made by
    :func:`synthetic_objects` (their ``source``). Output views are ``size`` px squares from the
    input's intrinsics (the same size)."""

    name = "render"

    def __init__(self, shadows: bool = True) -> None:
        self.shadows = shadows

    def generate(
        self, obj: ObjectImage, views: list[RelativeView], seed: int = 0
    ) -> list[GeneratedView]:
        src = obj.source
        if not isinstance(src, SyntheticSource):
            raise ConfigError(
                f"{obj.name}: the render generator needs the data engine's instance (objects "
                "from synthetic_objects / generate-views --source synthetic); real images need "
                "--generator zero123"
            )
        intr = src.intrinsics
        white = np.full((intr.height, intr.width, 3), 255, dtype=np.uint8)
        alone = Scene(objects=src.scene.objects[:1], table=None, background=white,
                      lights=src.scene.lights, ambient=src.scene.ambient)  # fmt: skip
        out = []
        for view in views:
            T = view_camera(src.T_world_cam, src.distance, view)
            result = render(alone, T, intr, shadows=self.shadows)
            out.append(GeneratedView(rgb=result.rgb, mask=result.instance == 0, view=view))
        return out
