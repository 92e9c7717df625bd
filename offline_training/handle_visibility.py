"""Is a mug's handle visible? The NOCS evaluation protocol for mugs, from the ground truth.

NOCS (Wang et al. 2019) and the benchmarks that follow it (Wild6D, paper 004's tables) score a
mug whose handle cannot be seen as symmetric about its axis: from such a view the azimuth is
not observable, and no method can be blamed for it. This module decides, per annotated mug,
whether the handle is visible, from what any BOP dataset carries: the instance mesh, its pose,
the camera and (if stored) the object's visible mask.

* **Handle faces** (:func:`handle_faces`): the canonical frame (``shared/notes/categories.md``)
  puts +x towards the handle and the origin at the centre of the bounding box; the body is a
  body of revolution whose radius is the largest ``|y|`` of the mesh (a handle is narrower in
  y than the body), so the body ends at ``x_min + 2 * max|y|`` and the handle is every face
  whose three vertices lie beyond that plus ``margin`` (a fraction of the x extent).
* **Visible handle pixels** (:func:`handle_pixels`): the mesh rasterised at the ground-truth
  pose in the image's camera (self-occlusion by the body), restricted to ``mask_visib`` when
  given (occlusion by other objects); a pixel counts when its nearest face is a handle face.
* **Rule** (:func:`handle_visible`): visible when those pixels are at least ``min_fraction``
  of the object's visible pixels (default 1 %): a sliver of handle already fixes the azimuth
  roughly, so the rule errs towards "visible", i.e. towards the stricter score.

Training-side only (torch, numpy); the metrics themselves are
:func:`ros_pose_estimation.core.metrics.rotation_error_deg` with ``handle_visible``.
"""

from __future__ import annotations

import numpy as np
import torch

from ros_pose_estimation.core.mesh import TriMesh
from ros_pose_estimation.render.rasterizer import rasterize

__all__ = [
    "DEFAULT_MIN_FRACTION",
    "MugHandles",
    "handle_faces",
    "handle_pixels",
    "handle_visible",
]

#: Visible handle pixels / visible object pixels at or above which the handle counts as seen.
DEFAULT_MIN_FRACTION = 0.01


def handle_faces(mesh: TriMesh, margin: float = 0.02) -> np.ndarray:
    """``[F]`` bool: the faces of a mug mesh (canonical frame) that belong to its handle.

    Args:
        mesh: the instance mesh (m), +x towards the handle.
        margin: gap beyond the body's +x end, as a fraction of the mesh's x extent.

    Returns all False for a mesh with nothing beyond its body (no handle).
    """
    v = mesh.vertices
    x_min, x_max = float(v[:, 0].min()), float(v[:, 0].max())
    body_end = x_min + 2.0 * float(np.abs(v[:, 1]).max())
    beyond = v[:, 0] > body_end + margin * (x_max - x_min)
    return beyond[mesh.faces].all(1)


def handle_pixels(
    mesh: TriMesh,
    R: np.ndarray,
    t: np.ndarray,
    K: np.ndarray,
    image_size: tuple[int, int],
    mask_visib: np.ndarray | None = None,
    faces: np.ndarray | None = None,
) -> tuple[int, int]:
    """``(handle pixels, object pixels)`` of the mug seen at pose ``R [3 x 3]``, ``t [3]`` (m,
    model to camera) by a camera ``K [3 x 3]`` of ``image_size`` ``(H, W)``.

    Object pixels: the rendered silhouette, within ``mask_visib`` (``[H x W]`` bool) when
    given. ``faces``: precomputed :func:`handle_faces` of ``mesh``.
    """
    faces = handle_faces(mesh) if faces is None else faces
    frags = rasterize(
        torch.as_tensor(mesh.vertices, dtype=torch.float32),
        torch.as_tensor(mesh.faces),
        torch.as_tensor(K, dtype=torch.float32),
        torch.as_tensor(np.asarray(R)[None], dtype=torch.float32),
        torch.as_tensor(np.asarray(t).reshape(1, 3), dtype=torch.float32),
        image_size,
    )
    face = frags.pix_to_face[0].numpy()
    seen = face >= 0
    if mask_visib is not None:
        seen &= np.asarray(mask_visib, dtype=bool)
    on_handle = np.zeros_like(seen)
    on_handle[seen] = faces[face[seen]]
    return int(on_handle.sum()), int(seen.sum())


def handle_visible(
    mesh: TriMesh,
    R: np.ndarray,
    t: np.ndarray,
    K: np.ndarray,
    image_size: tuple[int, int],
    mask_visib: np.ndarray | None = None,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    faces: np.ndarray | None = None,
) -> bool | None:
    """Whether the mug's handle is visible (NOCS protocol), see the module docstring; None
    when the mesh has no handle faces (the rule does not apply) or nothing of it is seen."""
    faces = handle_faces(mesh) if faces is None else faces
    if not faces.any():
        return None  # not rendered: there is no handle to look for
    handle, total = handle_pixels(mesh, R, t, K, image_size, mask_visib, faces)
    if total == 0:
        return None
    return handle >= min_fraction * total


class MugHandles:
    """Handle visibility of the mugs of one BOP dataset (meshes and handle faces cached).

    ``handles(sample, obj)`` -> :func:`handle_visible` of annotation ``obj`` (a
    :class:`~offline_training.synthetic.bop_reader.BopObject` of ``sample``); None for other
    categories, meshes without a handle, and models that cannot be read (:attr:`problems`
    says which).
    """

    def __init__(self, dataset, min_fraction: float = DEFAULT_MIN_FRACTION) -> None:
        self.dataset = dataset
        self.min_fraction = min_fraction
        self._meshes: dict[int, tuple[TriMesh, np.ndarray] | None] = {}
        #: obj_id -> why its handle visibility is not known
        self.problems: dict[int, str] = {}

    def __call__(self, sample, obj) -> bool | None:
        if obj.category != "mug":
            return None
        oid = int(obj.obj_id)
        if oid not in self._meshes:
            self._meshes[oid] = None
            try:
                mesh = self.dataset.load_model(oid)
            except (OSError, ValueError) as exc:
                self.problems[oid] = f"no model ({exc})"
            else:
                faces = handle_faces(mesh)
                if faces.any():
                    self._meshes[oid] = (mesh, faces)
                else:
                    self.problems[oid] = "no handle beyond the body along +x"
        if self._meshes[oid] is None:
            return None
        mesh, faces = self._meshes[oid]
        # occlusion by other objects counts: the visible mask, read here when the dataset
        # was opened without masks (benchmarks that time only the estimator)
        return handle_visible(mesh, obj.R, obj.t, sample.K, sample.rgb.shape[:2],
                              obj.visible_mask(), self.min_fraction, faces)  # fmt: skip
