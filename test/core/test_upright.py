"""The upright looks: a rolled object is looked at again through a camera turned so that it
stands upright (by a first look, or by gravity), and the pose comes back in the original camera;
the depth and the mask are warped with the image.

The estimator is a stand-in that sees the true pose in whatever camera it is given (the
turned view's ``Q`` is recorded when the view is made) but, like a model trained on upright
views, reads only half of the object's image roll; its loss is the roll it leaves out."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ros_pose_estimation.core import upright as upright_mod
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.camera_roll import roll_matrix
from ros_pose_estimation.core.errors import ConfigError, InputError
from ros_pose_estimation.core.estimation import Detection, PoseEstimate
from ros_pose_estimation.core.metrics import rotation_error_deg
from ros_pose_estimation.core.view_correction import image_roll
from ros_pose_estimation.nemo.presets import InferenceConfig

INTR = Intrinsics(500.0, 500.0, 319.5, 239.5, 640, 480)
IMAGE = np.zeros((480, 640, 3), np.uint8)
UPRIGHT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # z_obj -> -y_cam


class HalfRollReader:
    """``estimate(image, detections, intrinsics)`` of the module docstring."""

    def __init__(self, R, t, monkeypatch):
        self.R, self.t, self.views, self.calls, self.ups = R, t, [], 0, []
        real = upright_mod.upright_view

        def recording(*args, **kwargs):
            out = real(*args, **kwargs)
            self.views.append(out[0])
            return out

        monkeypatch.setattr(upright_mod, "upright_view", recording)

    def __call__(self, image, detections, intrinsics, depth=None, up=None):
        self.calls += 1
        self.ups.append(up)
        Q = self.views[-1].Q if intrinsics is not INTR else np.eye(3)
        R, t = Q @ self.R, Q @ self.t
        roll = float(image_roll(R, t))
        seen = roll_matrix(-0.5 * roll) @ R  # half of the roll taken out (sign checked below)
        if abs(image_roll(seen, t)) > abs(roll):
            seen = roll_matrix(0.5 * roll) @ R
        return [PoseEstimate("camera", seen, t, 0.9, np.full(3, 0.1), {"total": 1.0},
                             loss=abs(0.5 * roll))]  # fmt: skip


def _rolled(deg):
    Q = roll_matrix(math.radians(deg))
    return Q @ UPRIGHT, Q @ np.array([0.05, -0.02, 0.8])


@pytest.mark.parametrize("keep", ["lower_loss", "second"])
def test_a_rolled_object_is_read_again_upright(monkeypatch, keep):
    R, t = _rolled(50.0)
    reader = HalfRollReader(R, t, monkeypatch)
    det = Detection("camera", [300.0, 200.0, 360.0, 280.0])
    first = reader(IMAGE, [det], INTR)
    (out,) = upright_mod.second_look(IMAGE, [det], INTR, first, reader, 15.0, keep, looks=2)
    before = rotation_error_deg(first[0].R, R, "camera")
    after = rotation_error_deg(out.R, R, "camera")
    assert before == pytest.approx(25.0, abs=0.5)
    assert after < 0.3 * before and reader.calls == 3
    np.testing.assert_allclose(out.t, t, atol=1e-9)  # the centre comes back exactly
    assert out.timings["total"] == pytest.approx(3.0)  # every look's time


def test_an_upright_object_is_left_alone(monkeypatch):
    R, t = _rolled(10.0)
    reader = HalfRollReader(R, t, monkeypatch)
    det = Detection("camera", [300.0, 200.0, 360.0, 280.0])
    first = reader(IMAGE, [det], INTR)
    out = upright_mod.second_look(IMAGE, [det, det], INTR, [first[0], None], reader, 15.0,
                                  "lower_loss")  # fmt: skip
    assert out[0] is first[0] and out[1] is None and reader.calls == 1


def test_upright_turn_makes_the_object_stand_upright():
    for deg in (-70.0, -20.0, 35.0, 120.0):
        R, t = _rolled(deg)
        turn = upright_mod.upright_turn(R, t)
        Q = roll_matrix(turn)
        assert abs(math.degrees(image_roll(Q @ R, Q @ t))) < 3.0, deg


def test_settings_are_checked():
    assert InferenceConfig().upright and InferenceConfig().upright_min_deg == 15.0
    with pytest.raises(ConfigError, match="upright_keep"):
        InferenceConfig(upright_keep="best")
    with pytest.raises(ConfigError, match="upright_looks"):
        InferenceConfig(upright_looks=0)


def test_gravity_turns_the_camera_upright_in_one_look(monkeypatch):
    R, t = _rolled(50.0)
    reader = HalfRollReader(R, t, monkeypatch)
    det = Detection("camera", [300.0, 200.0, 360.0, 280.0])
    up = R[:, 2]  # the object stands upright in the world
    (out,) = upright_mod.gravity_look(IMAGE, [det], INTR, up, reader, 15.0)
    assert reader.calls == 1 and rotation_error_deg(out.R, R, "camera") < 1.0
    np.testing.assert_allclose(out.t, t, atol=1e-9)
    # the look was given the world's up in its own (turned) camera: upright there
    np.testing.assert_allclose(reader.ups[0], reader.views[0].Q @ up, atol=1e-12)
    assert abs(math.degrees(image_roll(reader.views[0].Q @ R, reader.views[0].Q @ t))) < 3.0
    R0, t0 = _rolled(5.0)  # upright enough: one batched look on the image itself
    reader = HalfRollReader(R0, t0, monkeypatch)
    (same,) = upright_mod.gravity_look(IMAGE, [det], INTR, R0[:, 2], reader, 15.0)
    assert reader.calls == 1 and not reader.views
    np.testing.assert_allclose(reader.ups[0], R0[:, 2])  # its own camera: up as given
    with pytest.raises(InputError, match="up"):
        upright_mod.gravity_look(IMAGE, [det], INTR, np.zeros(3), reader, 15.0)


def test_depth_and_mask_are_warped_with_the_view_and_give_the_box():
    depth = np.zeros(INTR.shape, np.float32)
    mask = np.zeros(INTR.shape, bool)
    mask[200:280, 300:340] = True  # a tall object ...
    depth[mask] = 0.8
    det = Detection("camera", [299.5, 199.5, 339.5, 279.5], mask)
    view, upright, warped = upright_mod.upright_view(IMAGE, INTR, det, math.radians(90), depth)
    x0, y0, x1, y1 = upright.box_xyxy  # ... lies on its side after a quarter turn
    assert (x1 - x0) == pytest.approx(80, abs=2) and (y1 - y0) == pytest.approx(40, abs=2)
    assert warped.shape == view.image.shape[:2]
    np.testing.assert_array_equal(np.unique(warped), np.float32([0.0, 0.8]))  # never blended
    assert upright.mask.sum() == mask.sum()


def test_an_upside_down_box_is_the_same_box_not_a_rolled_camera(monkeypatch):
    """The box's group holds the 180-deg flips: an estimate with its z down does not lean, and
    the first-look path leaves it alone; a mug turned upside down does lean."""
    flip = np.diag([1.0, -1.0, -1.0])  # 180 deg about the box's x
    R, t = _rolled(5.0)
    assert upright_mod.image_lean_deg(R @ flip, t, "box") < 6.0
    assert upright_mod.image_lean_deg(R @ flip, t, "mug") > 170.0
    assert upright_mod.image_lean_deg(R @ flip, t) > 170.0  # no category: z as it is
    reader = HalfRollReader(R, t, monkeypatch)
    det = Detection("box", [300.0, 200.0, 360.0, 280.0])
    first = [PoseEstimate("box", R @ flip, t, 0.9, np.full(3, 0.1), {"total": 1.0}, loss=0.0)]
    out = upright_mod.second_look(IMAGE, [det], INTR, first, reader, 15.0, "second")
    assert out[0] is first[0] and reader.calls == 0
