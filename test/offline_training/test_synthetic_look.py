"""The target-domain look (generate-dataset --light-gain ... --jpeg-quality): off by default;
on, it changes only the RGB, never the geometry or the labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from offline_training.synthetic.cli import dataset_parser
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from offline_training.synthetic.look import Look, apply_look, motion_kernel


def test_identity_by_default_and_validation():
    rgb = np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8)
    assert Look().is_identity and apply_look(rgb, Look(), np.random.default_rng(0)) is rgb
    args = dataset_parser().parse_args(["--category", "mug", "--out", "x"])
    assert (args.light_gain, args.light_tint, args.gamma, args.motion_blur, args.rgb_noise,
            args.jpeg_quality) == ((1.0, 1.0), 0.0, 1.0, (0.0, 0.0), 0.0, None)  # fmt: skip
    for bad in (Look(gain=(0.0, 1.0)), Look(tint=1.0), Look(motion_blur=(3.0, 1.0)),
                Look(jpeg_quality=0)):  # fmt: skip
        with pytest.raises(ValueError):
            bad.validate()
    k = motion_kernel(7.0, 0.0)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0) and k[3].sum() == pytest.approx(1)


def test_darker_blurred_compressed_image():
    rgb = np.full((32, 32, 3), 200, np.uint8)
    rgb[:, 16:] = 40
    look = Look(gain=(0.5, 0.5), motion_blur=(6.0, 6.0), jpeg_quality=30)
    out = apply_look(rgb, look, np.random.default_rng(1))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert out[:, :4].mean() == pytest.approx(100, abs=6)  # half as bright
    plain = apply_look(rgb, Look(gain=(0.5, 0.5)), np.random.default_rng(1))
    assert not np.array_equal(out, plain)  # blurred and compressed


def test_look_keeps_the_labels(tmp_path):
    kw = {"images": 2, "width": 64, "height": 48, "instances": 1}
    generate_dataset(DatasetConfig(["mug"], tmp_path / "a", **kw), progress=False)
    look = Look(gain=(0.4, 0.6), tint=0.3, gamma=1.2, motion_blur=(2, 5), noise=4, jpeg_quality=40)
    generate_dataset(DatasetConfig(["mug"], tmp_path / "b", look=look, **kw), progress=False)
    for name in ("scene_gt.json", "scene_gt_info.json", "scene_camera.json"):
        a, b = (json.loads((tmp_path / r / "train" / "000000" / name).read_text()) for r in "ab")
        assert a == b, name
    import cv2

    a, b = (cv2.imread(str(tmp_path / r / "train/000000/rgb/000000.png")) for r in "ab")
    assert b.mean() < a.mean()
