"""Photometric augmentation of CSE crops: the look changes, reproducibly; nothing else does."""

import numpy as np
import pytest
import torch

from offline_training.cse.augment import (
    OccluderConfig,
    PhotometricConfig,
    occlude_rgbd,
    photometric,
)
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


def _rgbd(size=64):
    image = np.full((size, size, 3), 120, np.uint8)
    depth = np.full((size, size), 1.5, np.float32)  # the background, 1.5 m
    mask = np.zeros((size, size), bool)
    mask[16:48, 20:44] = True
    depth[mask] = 0.8  # the object, 0.8 m
    return image, depth, mask


def test_an_occluder_stands_in_front_and_leaves_the_mask():
    image, depth, mask = _rgbd()
    cfg = OccluderConfig(p=1.0, fraction=(0.3, 0.3), in_front=(0.1, 0.1))
    img2, depth2, mask2 = occlude_rgbd(image, depth, mask, cfg, np.random.default_rng(4))
    hidden = mask & ~mask2
    assert not (mask2 & ~mask).any()  # only removes pixels
    assert 0.1 * mask.sum() < hidden.sum() <= 0.31 * mask.sum()
    changed = depth2 != depth
    assert np.allclose(depth2[changed], 0.7)  # 10 cm in front of the object's median
    assert changed[hidden].all()  # every hidden pixel is behind the occluder
    assert np.array_equal(changed, np.any(img2 != image, axis=2) | changed)  # painted region
    assert img2.dtype == np.uint8 and depth2.dtype == np.float32
    assert np.array_equal(depth, _rgbd()[1])  # the inputs are left alone


def test_no_occluder_at_p_0_or_on_an_empty_mask():
    image, depth, mask = _rgbd()
    out = occlude_rgbd(image, depth, mask, OccluderConfig(p=0.0), np.random.default_rng(0))
    assert all(a is b for a, b in zip(out, (image, depth, mask), strict=True))
    empty = np.zeros_like(mask)
    out = occlude_rgbd(image, depth, empty, OccluderConfig(p=1.0), np.random.default_rng(0))
    assert out[2] is empty and out[1] is depth


@pytest.mark.parametrize("bad", [{"p": -0.1}, {"fraction": (0.5, 0.2)}, {"in_front": (0.2, 0.1)}])
def test_bad_occluder_settings_are_refused(bad):
    with pytest.raises(ConfigError):
        OccluderConfig(**bad)


def test_occluded_items_keep_their_labels_and_pairs_avoid_the_occluder(cse_root):  # noqa: F811
    plain = CseSequenceSet(cse_root, "mug", with_labels=True, seed=3)
    hidden = CseSequenceSet(cse_root, "mug", with_labels=True, seed=3,
                            occluders=OccluderConfig(p=1.0, fraction=(0.4, 0.4)))  # fmt: skip
    a, b = plain[0], hidden[0]
    for key in ("K", "R", "t", "up", "size"):
        assert torch.equal(a[key], b[key]), key
    assert (b["mask"] <= a["mask"]).all() and b["mask"].sum() < a["mask"].sum()
    lost = a["mask"] & ~b["mask"] & (a["depth"] > 0)
    assert lost.any() and (b["depth"][lost] < a["depth"][lost]).all()  # it is in front
    s = b["mask"].shape[-1]
    uv = b["pair_uv"][b["pair_valid"]].round().long().clamp(0, s - 1)
    assert b["mask"][1][uv[:, 1], uv[:, 0]].float().mean() > 0.9  # pairs land on the object
    assert torch.equal(hidden[0]["image"], b["image"])  # reproducible
