"""The occlusion benchmark's occluded views: reproducible per key, only the occluder's pixels
change, the hidden share is what the occluder covers of the object, and the bins."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.nemo_occlusion import bin_name, load_photos, occluded_view


def test_occluded_views_are_reproducible_and_hide_what_they_paint(tmp_path):
    photo = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), photo)
    (tmp_path / "notes.txt").write_text("not an image")
    photos = load_photos(str(tmp_path), 80, 60)
    assert len(photos) == 1 and photos[0].shape == (60, 80, 3)
    image = np.full((60, 80, 3), 100, np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[10:50, 20:60] = True
    shares = []
    for key in range(30):
        out, hidden, left = occluded_view(image, mask, photos, [0, key])
        again, same, _ = occluded_view(image, mask, photos, [0, key])
        assert (out == again).all() and hidden == same
        assert not (left & ~mask).any() and left.sum() == round((1 - hidden) * mask.sum())
        changed = (out != image).any(axis=2)
        assert 0.0 <= hidden <= 1.0
        assert changed[mask].mean() <= hidden + 1e-9  # the photo may match grey in places
        shares.append(hidden)
    assert 0.1 < np.median(shares) < 0.9


def test_bins_of_the_hidden_share():
    assert bin_name(0.0) == "none"
    assert bin_name(0.05) == "0.0-0.2" and bin_name(0.2) == "0.0-0.2"
    assert bin_name(0.5) == "0.4-0.6" and bin_name(0.95) == ">0.6"


def test_the_rgbd_occluder_stands_in_front_of_the_object():
    from offline_training.cse.augment import occluder_depth

    depth = np.full((20, 30), 1.2, np.float32)
    mask = np.zeros((20, 30), bool)
    mask[5:15, 10:20] = True
    depth[mask] = 0.8
    occluder = np.zeros_like(mask)
    occluder[8:18, 15:25] = True
    out = occluder_depth(depth, mask, occluder, np.random.default_rng(0))
    assert (out[~occluder] == depth[~occluder]).all()
    assert np.all((out[occluder] >= 0.6 - 1e-6) & (out[occluder] <= 0.75 + 1e-6))
    assert (occluder_depth(depth, np.zeros_like(mask), occluder, np.random.default_rng(0))
            == depth).all()  # no object depth: nothing to stand in front of
