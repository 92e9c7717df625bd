"""A camera turned about its optical axis: the warp agrees with projecting through the turned
camera, nothing of the point of interest is cut off, poses go back exactly, and the upright
box of a turned rectangle is recovered."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.camera_roll import roll_matrix, rolled_view, upright_box
from ros_pose_estimation.core.errors import InputError

INTR = Intrinsics(500.0, 520.0, 310.0, 250.0, 640, 480)


def _project(K, X):
    x = X @ K.T
    return x[:, :2] / x[:, 2:]


@pytest.mark.parametrize("angle", [0.3, -1.1, np.pi])
@pytest.mark.parametrize("window", [False, True])
def test_the_warp_is_the_turned_cameras_projection(angle, window):
    rng = np.random.default_rng(0)
    X = np.c_[rng.uniform(-0.3, 0.3, (20, 2)), rng.uniform(0.8, 2.0, 20)]
    old = _project(INTR.K, X)
    image = np.zeros(INTR.shape, np.uint8)
    view = rolled_view(image, INTR, angle, old[0] if window else None, 301 if window else None)
    new = _project(view.intrinsics.K, X @ view.Q.T)
    np.testing.assert_allclose(view.points(old), new, atol=1e-9)
    assert view.image.shape == view.intrinsics.shape
    if window:  # the point of interest lands in the window's centre pixel
        np.testing.assert_allclose(new[0], [150.0, 150.0], atol=1e-9)


def test_image_content_moves_with_the_warp_and_poses_go_back():
    image = np.zeros((480, 640, 3), np.uint8)
    image[100:104, 500:504] = 255  # a bright square far from the principal point
    view = rolled_view(image, INTR, 0.8)  # the whole turned image: nothing is cut off
    ys, xs = np.nonzero(view.image[..., 0] > 128)
    expected = view.points([[501.5, 101.5]])[0]
    assert abs(xs.mean() - expected[0]) < 0.6 and abs(ys.mean() - expected[1]) < 0.6
    R, t = roll_matrix(0.2) @ roll_matrix(-0.5), np.array([0.1, -0.2, 1.5])
    back = view.pose_back(view.Q @ R, view.Q @ t)
    np.testing.assert_allclose(back[0], R, atol=1e-12)
    np.testing.assert_allclose(back[1], t, atol=1e-12)
    mask = np.zeros((480, 640), bool)
    mask[100:104, 500:504] = True
    turned = rolled_view(mask, INTR, 0.8, nearest=True).image
    assert turned.dtype == bool and 8 <= turned.sum() <= 24


def test_upright_box_inverts_a_turned_rectangle():
    a, b, angle = 40.0, 120.0, np.radians(25)  # a tall object, turned 25 deg
    c, s = np.cos(angle), np.sin(angle)
    w, h = a * c + b * s, a * s + b * c
    box = upright_box([100 - w / 2, 50 - h / 2, 100 + w / 2, 50 + h / 2], angle)
    np.testing.assert_allclose(box, [80, -10, 120, 110], atol=1e-9)
    near_45 = [0.0, 0.0, 10.0, 10.0]
    np.testing.assert_allclose(upright_box(near_45, np.radians(44)), near_45)


def test_bad_inputs_are_refused():
    with pytest.raises(InputError, match="intrinsics"):
        rolled_view(np.zeros((10, 10), np.uint8), INTR, 0.1)
    with pytest.raises(InputError, match="side"):
        rolled_view(np.zeros(INTR.shape, np.uint8), INTR, 0.1, [1.0, 2.0], None)
