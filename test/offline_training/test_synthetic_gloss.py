"""Glossy objects (generate-dataset --gloss): the Blinn-Phong highlight against its closed form,
reflected lights seen only in highlights, and a dataset whose geometry and labels stay those of
the same seed without gloss."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from offline_training.synthetic.cli import dataset_main, dataset_parser
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from offline_training.synthetic.gloss import Gloss, GlossConfig, highlight, sample_gloss
from offline_training.synthetic.render import render
from offline_training.synthetic.scene import Light, Scene, SceneObject, box_mesh
from offline_training.synthetic.textures import TextureSpec
from ros_pose_estimation.core.camera import Intrinsics

W, H = 160, 120
INTR = Intrinsics(fx=150.0, fy=150.0, cx=80.0, cy=60.0, width=W, height=H)
WHITE = TextureSpec("flat", [[1.0, 1.0, 1.0]], grain=0.0)


def _box_scene(gloss, lights, reflected=()):
    """A 1 m cube straight ahead of the camera (camera = world frame): its front face at
    z = 0.8 m faces the camera (normal -z) and fills the image."""
    T = np.eye(4)
    T[2, 3] = 1.3
    box = SceneObject("box", 1, box_mesh(-np.full(3, 0.5), np.full(3, 0.5)), T, WHITE, gloss)
    return Scene([box], lights=list(lights), ambient=0.1, reflected=list(reflected))


def _expected(u, v, strength, shininess, light_dir, intensity, ambient=0.1, diffuse=True):
    """The front face's colour (0-1) at pixel (u, v) from the formulas, not the renderer."""
    p = np.array([(u - INTR.cx) / INTR.fx, (v - INTR.cy) / INTR.fy, 1.0]) * 0.8
    view = -p / np.linalg.norm(p)
    n, d = np.array([0.0, 0.0, -1.0]), np.asarray(light_dir, dtype=np.float64)
    h = (view + d) / np.linalg.norm(view + d)
    lam = max(n @ d, 0.0)
    return ambient + (intensity * lam if diffuse else 0.0) + strength * intensity * max(
        n @ h, 0.0) ** shininess  # fmt: skip


def test_highlight_peaks_at_the_mirror_direction_and_follows_the_closed_form():
    light = Light(np.array([0.0, 0.0, -1.0]), intensity=0.5)  # from the camera's side
    matte = render(_box_scene(None, [light]), np.eye(4), INTR, shadows=False).rgb.astype(float)
    shiny = render(_box_scene(Gloss(0.3, 40.0), [light]), np.eye(4), INTR, shadows=False)
    shiny = shiny.rgb.astype(float)
    # the centre pixel looks along the face normal: n . h = 1, the full highlight (0.3 x 0.5)
    np.testing.assert_allclose(matte[60, 80], 0.6 * 255, atol=1.0)
    np.testing.assert_allclose(shiny[60, 80], 0.75 * 255, atol=1.0)
    for u, v in ((100, 60), (80, 100), (120, 85), (145, 20)):  # falling off away from it
        want = _expected(u, v, 0.3, 40.0, light.direction, 0.5)
        np.testing.assert_allclose(shiny[v, u], want * 255, atol=1.0)
    assert shiny[60, 80, 0] > shiny[20, 145, 0] > matte[20, 145, 0]


def test_highlight_function_is_zero_facing_away_from_the_light():
    n = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    view = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(highlight(n, view, np.array([0.0, 0.0, 1.0]), 10.0), [1.0, 1.0])
    assert highlight(n, view, np.array([0.0, 0.0, -1.0]), 10.0).max() == 0.0


def test_reflected_lights_show_only_in_glossy_objects():
    d = np.array([0.6, 0.0, -0.8])
    window = Light(d, intensity=0.8)
    lamp = [Light(np.array([0.0, 0.0, -1.0]), intensity=0.5)]
    plain = render(_box_scene(None, lamp), np.eye(4), INTR, shadows=False).rgb
    matte = render(_box_scene(None, lamp, [window]), np.eye(4), INTR, shadows=False).rgb
    assert np.array_equal(plain, matte)  # no diffuse light from a reflected one
    shiny = render(_box_scene(Gloss(0.5, 20.0), lamp, [window]), np.eye(4), INTR,
                   shadows=False).rgb.astype(float)  # fmt: skip
    u, v = 100, 60
    want = (_expected(u, v, 0.5, 20.0, lamp[0].direction, 0.5)
            + _expected(u, v, 0.5, 20.0, d, 0.8, ambient=0.0, diffuse=False))  # fmt: skip
    np.testing.assert_allclose(shiny[v, u], min(want, 1.0) * 255, atol=1.0)


def test_sample_gloss_share_ranges_and_stable_draws():
    assert sample_gloss(5, GlossConfig(), np.random.default_rng(0)) == [None] * 5
    cfg = GlossConfig(1.0, (0.3, 0.4), (20.0, 80.0))
    glosses = sample_gloss(50, cfg, np.random.default_rng(1))
    assert all(0.3 <= g.strength <= 0.4 and 20.0 <= g.shininess <= 80.0 for g in glosses)
    # the same draws per object whatever the share: object k's look does not depend on k-1's
    half = sample_gloss(50, GlossConfig(0.5, (0.3, 0.4), (20.0, 80.0)), np.random.default_rng(1))
    assert 10 < sum(g is not None for g in half) < 40
    assert all(h is None or h == g for h, g in zip(half, glosses, strict=True))
    for bad in (GlossConfig(1.5), GlossConfig(0.5, (0.5, 0.2)), GlossConfig(0.5, (0.2, 1.2)),
                GlossConfig(0.5, shininess=(0.0, 10.0))):  # fmt: skip
        with pytest.raises(ValueError):
            bad.validate()


def test_gloss_keeps_the_labels_and_changes_only_the_colour(tmp_path):
    kw = {"images": 3, "width": 96, "height": 72, "instances": 2, "seed": 4}
    generate_dataset(DatasetConfig(["can", "mug"], tmp_path / "a", **kw), progress=False)
    generate_dataset(DatasetConfig(["can", "mug"], tmp_path / "b", gloss=GlossConfig(1.0), **kw),
                     progress=False)  # fmt: skip
    scene = "train/000000"
    for name in ("scene_gt.json", "scene_gt_info.json", "scene_camera.json"):
        a, b = (json.loads((tmp_path / r / scene / name).read_text()) for r in "ab")
        assert a == b, name
    changed = 0
    for i in range(3):
        a, b = (cv2.imread(str(tmp_path / r / scene / f"depth/{i:06d}.png"), cv2.IMREAD_UNCHANGED)
                for r in "ab")  # fmt: skip
        assert np.array_equal(a, b)
        a, b = (cv2.imread(str(tmp_path / r / scene / f"rgb/{i:06d}.png")).astype(int)
                for r in "ab")  # fmt: skip
        assert (b >= a - 1).all()  # highlights only add light (the sensor noise is the same)
        changed += int((b > a + 8).sum())
    assert changed > 0


def test_cli_gloss_options(tmp_path, capsys):
    args = dataset_parser().parse_args(["--category", "mug", "--out", "x"])
    assert (args.gloss, args.gloss_strength, args.gloss_shininess) == (0.0, (0.2, 0.8),
                                                                        (10.0, 200.0))
    assert dataset_main(["--category", "mug", "--out", str(tmp_path / "d"), "--gloss", "1.5",
                         "--no-progress"]) == 2  # fmt: skip
    assert "gloss share" in capsys.readouterr().err
