"""Tied vertex features for symmetric categories (``train-nemo --symmetric-vertices``).

A box looks the same after a half turn about any of its axes, so an image cannot tell vertex
``k`` from its images ``g k`` under the category's symmetry group ``G``. The plain contrastive
loss (:func:`ros_pose_estimation.nemo.contrastive.contrastive_loss`) still asks the features to
tell them apart: ``g k`` is a negative of ``k``, and which of them is the positive depends only on
which of the equivalent frames the data engine drew. Here the neural mesh is made symmetric
instead:

* the vertex features of an orbit ``{g k : g in G}`` are one feature (:func:`tie_features` at the
  start, and every momentum update is applied to the whole orbit, :func:`expand_observations`);
* the negatives of positive ``k`` leave out every vertex near any ``g k``
  (:func:`symmetric_neighbours`), so no term pushes equivalent points apart.

Rendering the mesh at ``R`` or at ``R g`` then scores the same, and every such pose is right
under the symmetry-aware metrics. Unlike relabelling each crop with one member of the family
(``--canonical-symmetry``) no rule picks a member, so there is no boundary where a small change
of view flips the label.

The orbits are index maps ``[K x V]``: ``orbits[g, k]`` is the vertex at ``G[g] v_k``. The mesh
must be symmetric under the rotations used (the cuboid and template meshes centred on the
canonical frame are); :func:`vertex_orbits` refuses a mesh that is not. A continuous symmetry
about z is represented by the half turn about it (a cuboid mesh's grid maps onto itself under
it; under a quarter turn only when its x and y cells are alike).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ros_pose_estimation.core.categories import Category, get_category
from ros_pose_estimation.core.errors import ConfigError, check_shape
from ros_pose_estimation.core.rotations import axis_angle_to_matrix

__all__ = [
    "expand_observations",
    "symmetric_neighbours",
    "symmetry_rotations",
    "tie_features",
    "vertex_orbits",
]


def symmetry_rotations(category: Category | str) -> np.ndarray:
    """``[K x 3 x 3]`` proper rotations (identity first) under which the category looks the same.

    The finite group of the category, times for a continuous axis ``a`` the half turn about
    ``a`` (the subgroup every cuboid neural mesh follows).
    Asymmetric categories give the identity alone.
    """
    cat = get_category(category) if isinstance(category, str) else category
    group = [np.asarray(g, dtype=np.float64) for g in cat.discrete]
    if len(cat.continuous_axes):
        a = np.asarray(cat.continuous_axes[0], dtype=np.float64)
        a = a / np.linalg.norm(a)
        turns = [np.eye(3), axis_angle_to_matrix(a * np.pi)]
        group = [t @ g for t in turns for g in group]
    unique: list[np.ndarray] = []
    for g in group:  # a product of subgroups may repeat members
        if not any(np.allclose(g, u, atol=1e-9) for u in unique):
            unique.append(g)
    unique.sort(key=lambda g: not np.allclose(g, np.eye(3)))  # identity first
    return np.stack(unique)


def vertex_orbits(
    vertices: torch.Tensor, rotations: np.ndarray, tolerance: float = 0.01
) -> torch.Tensor:
    """``[K x V]`` int64: ``orbits[g, k]`` = the vertex nearest to ``rotations[g] @ v_k``.

    Args:
        vertices: ``[V x 3]`` mesh vertices in the canonical frame (m).
        rotations: ``[K x 3 x 3]`` from :func:`symmetry_rotations`.
        tolerance: largest allowed distance between a rotated vertex and its match, as a
            fraction of the mesh's largest extent.

    Raises:
        ConfigError: the mesh is not symmetric under ``rotations`` (a rotated vertex lands
            farther than ``tolerance`` from every vertex, or two vertices land on one).
    """
    check_shape("vertices", vertices, ("V", 3))
    rots = np.asarray(rotations, dtype=np.float64)
    check_shape("rotations", rots, ("K", 3, 3))
    v = vertices.detach().cpu().double()
    scale = float((v.amax(0) - v.amin(0)).max())
    moved = torch.einsum("gij,vj->gvi", torch.from_numpy(rots), v)  # [K x V x 3]
    dist = torch.cdist(moved, v[None].expand(len(rots), -1, -1))  # [K x V x V]
    best, orbits = dist.min(dim=2)
    worst = float(best.max())
    if worst > tolerance * scale:
        raise ConfigError(
            f"the neural mesh is not symmetric under its category's rotations: a rotated vertex "
            f"lies {worst * 1000:.1f} mm from the nearest vertex (allowed "
            f"{tolerance * scale * 1000:.1f} mm); train without --symmetric-vertices or use a "
            "mesh centred on the canonical frame"
        )
    for g, row in enumerate(orbits):
        if len(torch.unique(row)) != len(row):
            raise ConfigError(
                f"the neural mesh's vertices do not map one to one under symmetry rotation {g}; "
                "train without --symmetric-vertices"
            )
    return orbits.to(vertices.device)


def symmetric_neighbours(neighbours: torch.Tensor, orbits: torch.Tensor) -> torch.Tensor:
    """``[V x V]`` bool: row ``k`` = vertices near any symmetric image ``g k`` of ``k``.

    ``neighbours`` is the plain ``[V x V]`` exclusion
    (:meth:`ros_pose_estimation.nemo.neural_mesh.NeuralMesh.neighbour_mask`); the result is
    the negatives to leave out for positive ``k`` when the features are tied.
    """
    v = check_shape("neighbours", neighbours, ("V", "V"), dtype=torch.bool)["V"]
    check_shape("orbits", orbits, ("K", v))
    return neighbours[orbits.to(neighbours.device)].any(dim=0)


def tie_features(features: torch.Tensor, orbits: torch.Tensor) -> torch.Tensor:
    """``[V x D]`` unit features, each the normalised mean over its vertex's orbit."""
    v = check_shape("features", features, ("V", "D"))["V"]
    check_shape("orbits", orbits, ("K", v))
    return F.normalize(features[orbits.to(features.device)].mean(dim=0), dim=1)


def expand_observations(
    features: torch.Tensor, vertex_ids: torch.Tensor, orbits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each observation ``(f, k)`` repeated as ``(f, g k)`` for every ``g``: ``[K N x D]`` and
    ``[K N]``, so that a momentum update moves the whole orbit alike and keeps it tied."""
    n = check_shape("features", features, ("N", "D"))["N"]
    check_shape("vertex_ids", vertex_ids, (n,))
    ids = orbits.to(vertex_ids.device)[:, vertex_ids.long()].reshape(-1)
    return features.repeat(len(orbits), 1), ids
