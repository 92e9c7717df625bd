"""Differentiable mesh rendering in plain torch (no pytorch3d / nvdiffrast), CPU or CUDA.

* :mod:`.projection`: input checks and the pinhole projection of posed vertices.
* :mod:`.rasterizer`: hard z-buffered rasterisation -> :class:`Fragments` (face index,
  perspective-correct barycentrics, depth), differentiable through the barycentrics; its
  z-buffer (which face is nearest at each pixel) is :mod:`.zbuffer`.
* :mod:`.assignment`: barycentrics recomputed for new poses with the pixel-to-face
  assignment of an earlier rasterisation kept (cheap optimiser steps between rasterisations).
* :mod:`.feature_renderer`: per-vertex features -> ``[B x D x H x W]`` feature maps and
  render-and-compare similarities (neural mesh models, CSE).
* :mod:`.visibility`: per-vertex visibility by a depth test (paper 000, Eq. 4).
* :mod:`.silhouette`: soft silhouette (sigmoid of the signed distance to the contour).

Conventions: ``x_cam = R @ x_model + t`` (m), OpenCV optical camera, pixel centres at integer
coordinates (:mod:`ros_pose_estimation.core.conventions`).
"""

from .assignment import perspective_barycentrics, reinterpolate
from .feature_renderer import (
    FeatureRenderer,
    RenderedFeatures,
    feature_similarity,
    interpolate,
    interpolate_sparse,
    render_features,
)
from .projection import project_points, project_vertices, transform_vertices
from .rasterizer import Fragments, rasterize, rasterize_projected
from .silhouette import mesh_edges, soft_silhouette
from .visibility import vertex_normals, vertex_visibility

__all__ = [
    "FeatureRenderer",
    "Fragments",
    "RenderedFeatures",
    "feature_similarity",
    "interpolate",
    "interpolate_sparse",
    "mesh_edges",
    "perspective_barycentrics",
    "project_points",
    "project_vertices",
    "rasterize",
    "rasterize_projected",
    "reinterpolate",
    "render_features",
    "soft_silhouette",
    "transform_vertices",
    "vertex_normals",
    "vertex_visibility",
]
