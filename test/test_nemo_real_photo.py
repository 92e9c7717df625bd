"""benchmarks/nemo_real_photo.py: the annotation of scikit-image's espresso photo, and the
bundled mug on it (the one real photograph of a category object this machine has)."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks.nemo_real_photo import (
    FOCALS_PX,
    annotated_rotation,
    centre_ray,
    coffee_photo,
    main,
    measure,
    rim_ellipse,
    view_angles,
)

MUG = Path(__file__).resolve().parents[1] / "models" / "nemo" / "mug.pt"


def test_rim_ellipse_gives_the_view_from_above():
    """The rim's ellipse: axes ratio 0.81 (53.7 deg; the saucer's gives 52), axis nearly
    upright in the image."""
    elevation, roll = rim_ellipse(coffee_photo())
    assert 50.0 < elevation < 58.0
    assert 0.0 < roll < 10.0


@pytest.mark.parametrize("elevation,azimuth,roll", [(54, -22, 6), (10, 150, -20), (80, 0, 0)])
def test_annotated_rotation_round_trips(elevation, azimuth, roll):
    ray = centre_ray(700.0, 640, 480)
    R = annotated_rotation(ray, elevation, azimuth, roll)
    np.testing.assert_allclose(R.T @ R, np.eye(3), atol=1e-9)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(view_angles(R, ray), (elevation, azimuth), atol=1e-6)
    # the handle towards the camera (azimuth 0) faces it: x has a component against the ray
    assert annotated_rotation(ray, 30, 0, 0)[:, 0] @ ray < -0.8


def test_bundled_mug_on_the_real_photo():
    """Within 35 deg of the annotation (good to 5-10 deg) at every assumed focal length, the
    camera above the rim within 15 deg and the handle on the camera's side: a handle turned
    away, a hidden-handle guess or an upside-down cup fails. BENCHMARKS.md, "A real
    photograph": 25-28 deg today, most of it the handle's azimuth and the roll."""
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    model, _ = load_checkpoint(MUG, category="mug")
    image = coffee_photo()
    elevation, roll = rim_ellipse(image)
    rows = measure(NemoEstimator({"mug": model}), image, elevation, roll)
    assert [r["focal_px"] for r in rows] == list(FOCALS_PX)
    for r in rows:
        assert r["error_deg"] < 35.0, r
        assert abs(r["elevation_deg"] - elevation) < 15.0, r
        assert abs(r["handle_azimuth_deg"]) < 60.0, r


def test_cli_refuses_a_model_of_another_category(capsys):
    camera = MUG.parent / "camera.pt"
    assert main(["--run", f"c={camera}"]) == 2
    assert "camera" in capsys.readouterr().err
