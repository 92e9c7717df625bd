"""core.standing: the up direction checked; the turns themselves are pinned in
test/cse/test_support.py (the RGB-D estimator's surface) and test/nemo/test_estimator.py
(the RGB estimator's gravity)."""

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.standing import check_up, rest_axis_up, stand_upright
from ros_pose_estimation.cse import support


def test_check_up_gives_a_unit_vector_and_refuses_what_is_none():
    np.testing.assert_allclose(check_up([0.0, -3.0, 4.0]), [0.0, -0.6, 0.8])
    for bad in ([0.0, 0.0, 0.0], [np.nan, 0.0, 1.0], [0.0, 1.0], np.eye(3)):
        with pytest.raises(InputError, match="up: expected a finite non-zero"):
            check_up(bad)


def test_the_rgbd_support_module_uses_the_same_turns():
    assert support.stand_upright is stand_upright and support.rest_axis_up is rest_axis_up
