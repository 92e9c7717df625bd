"""Photometric augmentation of CSE crops: the look changes, reproducibly; nothing else does."""

import numpy as np
import pytest
import torch

from offline_training.cse.augment import PhotometricConfig, photometric
from offline_training.cse.data import CseSequenceSet
from ros_pose_estimation.core.errors import ConfigError
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)


def _image(seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, 64, dtype=np.float32)[None, :, None] * np.ones((48, 1, 3))
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def test_each_perturbation_changes_the_image_and_keeps_its_format():
    img = _image()
    only = {"p_color": 0.0, "p_blur": 0.0, "p_noise": 0.0, "p_jpeg": 0.0}
    for key in only:
        cfg = PhotometricConfig(**{**only, key: 1.0})
        out = photometric(img, cfg, np.random.default_rng(1))
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(out.astype(int) - img).mean() > 0.3, key
    assert np.array_equal(photometric(img, PhotometricConfig(**only), np.random.default_rng(1)),
                          img)  # fmt: skip
    blurred = photometric(
        img, PhotometricConfig(**{**only, "p_blur": 1.0}), np.random.default_rng(2)
    )
    assert (
        np.abs(np.diff(blurred.astype(float), axis=1)).mean()
        < np.abs(np.diff(img.astype(float), axis=1)).mean()
    )  # a blur smooths


def test_it_is_reproducible_and_leaves_the_input_alone():
    img = _image()
    keep = img.copy()
    a = photometric(img, PhotometricConfig(), np.random.default_rng(7))
    b = photometric(img, PhotometricConfig(), np.random.default_rng(7))
    assert np.array_equal(a, b) and np.array_equal(img, keep)


@pytest.mark.parametrize(
    "bad", [{"p_blur": 1.5}, {"noise_sigma": (3.0, 1.0)}, {"jpeg_quality": (0, 50)}]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        PhotometricConfig(**bad)


def test_training_items_change_only_their_rgb(cse_root):  # noqa: F811
    plain = CseSequenceSet(cse_root, "mug", with_labels=True, seed=3)
    looks = CseSequenceSet(cse_root, "mug", with_labels=True, seed=3,
                           photometric=PhotometricConfig(p_color=1.0))  # fmt: skip
    a, b = plain[0], looks[0]
    assert not torch.equal(a["image"], b["image"])
    for key in ("depth", "mask", "K", "pair_cell", "pair_uv", "pair_valid", "R", "t", "up"):
        assert torch.equal(a[key], b[key]), key
    assert torch.equal(looks[0]["image"], b["image"])  # the same item twice: the same look
