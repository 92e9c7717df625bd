"""Vertex-clustering decimation: budget respected, shape kept, bad budgets rejected."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.decimate import decimate
from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.shapes import SHAPE_CATEGORIES, template_mesh


@pytest.mark.parametrize("category", SHAPE_CATEGORIES)
def test_budget_and_extents(category):
    mesh = template_mesh(category)
    small = decimate(mesh, 400)
    assert 0 < len(small.faces) <= 400 < len(mesh.faces)
    np.testing.assert_allclose(small.extents, mesh.extents, rtol=0.2)
    faces = small.faces
    assert np.all((faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]))
    for budget in (1, 3, 10):
        assert 0 < len(decimate(mesh, budget).faces) <= budget


def test_small_mesh_returned_as_is_and_bad_budget():
    mesh = template_mesh("box")
    assert decimate(mesh, len(mesh.faces)) is mesh
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError, match="max_triangles"):
            decimate(mesh, bad)
