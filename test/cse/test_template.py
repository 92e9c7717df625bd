"""Template simplification by vertex clustering."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.cse.template import category_template, simplify_mesh
from ros_pose_estimation.shapes import template_mesh


@pytest.mark.parametrize("category", ["mug", "bottle", "camera"])
def test_category_template_hits_the_vertex_budget_and_keeps_the_shape(category):
    full = template_mesh(category)
    simple = category_template(category, 600)
    assert len(full.vertices) > 1000
    assert abs(len(simple.vertices) - 600) <= 60
    assert simple.faces.min() >= 0 and simple.faces.max() < len(simple.vertices)
    assert np.all(np.unique(simple.faces) == np.arange(len(simple.vertices)))  # all referenced
    np.testing.assert_allclose(simple.extents, full.extents, rtol=0.06)


def test_small_mesh_is_returned_unchanged_and_budget_is_checked():
    box = category_template("box", 600)
    again = simplify_mesh(box, 600)
    np.testing.assert_array_equal(again.vertices, box.vertices)
    with pytest.raises(ConfigError, match="at least 20"):
        simplify_mesh(box, 5)
