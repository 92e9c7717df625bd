"""offline_training/synthetic/sensor_noise.py: another depth camera's artefacts (correlated
noise, edge fattening, flying pixels, misregistration) do what they say, and with their
defaults the depth is exactly what it was without them."""

from __future__ import annotations

import numpy as np
import pytest

from offline_training.synthetic.cli import dataset_main
from offline_training.synthetic.sensor_noise import (
    SensorNoise,
    apply_depth_noise,
    fatten_edges,
    flying_pixels,
    shift_image,
)


def _step(h: int = 40, w: int = 60) -> np.ndarray:
    """A near square (1.0 m) on a far wall (2.0 m): ``[h x w]`` float32 depth (m)."""
    z = np.full((h, w), 2.0, np.float32)
    z[10:30, 20:40] = 1.0
    return z


def test_the_artefacts_are_off_by_default_and_change_nothing():
    """With the artefacts at their defaults the depth is the model's as it was before them: the
    clean depth plus one independent Gaussian draw per pixel scaled by the axial noise (holes
    and blobs off here), from the same draws of the same generator."""
    z = _step()
    quiet = SensorNoise(edge_dropout=0.0, blob_rate=0.0)
    assert (quiet.noise_scale_px, quiet.fatten_px, quiet.flying, quiet.shift_px) == (
        0.0, 0, 0.0, (0.0, 0.0))  # fmt: skip
    out = apply_depth_noise(z, None, quiet, np.random.default_rng(3))
    draw = np.random.default_rng(3).standard_normal(z.shape, dtype=np.float32)
    expected = z + draw * quiet.depth_sigma(z).astype(np.float32)
    np.testing.assert_array_equal(out, expected.astype(np.float32))


def test_edge_fattening_spreads_the_nearer_depth_by_its_width_and_keeps_holes():
    z = _step()
    z[0, 0] = 0.0
    fat = fatten_edges(z, 2, threshold=0.02)
    assert (fat == 1.0).sum() == 24 * 24  # the 20 x 20 square grown by 2 px on each side
    assert fat[8, 18] == 1.0 and fat[7, 20] == 2.0  # the corner pixel is within the window
    assert fat[0, 0] == 0.0
    np.testing.assert_array_equal(fatten_edges(z, 0, 0.02), z)
    # a steep but continuous surface (1.5 cm more depth per pixel) has no edge: unchanged
    ramp = np.tile(1.0 + 0.015 * np.arange(60, dtype=np.float32), (40, 1))
    np.testing.assert_array_equal(fatten_edges(ramp, 2, threshold=0.02), ramp)


def test_flying_pixels_lie_between_the_two_surfaces_and_only_at_the_edge():
    z = _step()
    out = flying_pixels(z, 1.0, threshold=0.02, rng=np.random.default_rng(0))
    moved = out != z
    assert moved.any()
    assert np.all((out[moved] >= 1.0) & (out[moved] <= 2.0))
    ring = np.zeros_like(moved)
    ring[9:31, 19:41] = True
    ring[11:29, 21:39] = False  # edge pixels: one inside and one outside the square's border
    assert not (moved & ~ring).any()
    np.testing.assert_array_equal(flying_pixels(z, 0.0, 0.02, np.random.default_rng(0)), z)


def test_misregistration_shifts_the_depth_image():
    z = _step()
    out = shift_image(z, (3.0, -2.0))
    np.testing.assert_array_equal(out[8:28, 23:43], np.ones((20, 20), np.float32))
    assert np.all(out[-2:] == 0.0) and np.all(out[:, :3] == 0.0)  # what enters is no return


def test_correlated_noise_keeps_its_spread_and_neighbours_err_together():
    wall = np.full((120, 160), 1.5, np.float32)
    quiet = dict(edge_dropout=0.0, blob_rate=0.0)
    sigma = SensorNoise().depth_sigma(np.float32(1.5))
    white = apply_depth_noise(wall, None, SensorNoise(**quiet), np.random.default_rng(1)) - 1.5
    bumps = apply_depth_noise(wall, None, SensorNoise(noise_scale_px=4.0, **quiet),
                              np.random.default_rng(1)) - 1.5  # fmt: skip
    for field in (white, bumps):
        assert field.std() == pytest.approx(sigma, rel=0.1)

    def neighbour_correlation(f):
        return float(np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1])

    assert abs(neighbour_correlation(white)) < 0.05
    assert neighbour_correlation(bumps) > 0.9
    # averaging blocks of 20 x 20 pixels removes far less of it
    blocks = [f.reshape(6, 20, 8, 20).mean(axis=(1, 3)).std() for f in (white, bumps)]
    assert blocks[1] > 5 * blocks[0]


def test_out_of_range_artefacts_are_refused():
    with pytest.raises(ValueError, match="flying"):
        SensorNoise(flying=1.5)
    with pytest.raises(ValueError, match="fatten_px"):
        SensorNoise(fatten_px=-1)


def test_generate_dataset_writes_another_sensors_depth(tmp_path, capsys):
    common = ["--category", "box", "--instances", "1", "--images", "1", "--width", "64",
              "--height", "48", "--no-progress", "--seed", "4"]  # fmt: skip
    assert dataset_main([*common, "--out", str(tmp_path / "plain")]) == 0
    assert dataset_main([*common, "--out", str(tmp_path / "other"), "--depth-fatten", "2",
                         "--depth-shift", "2,0", "--depth-noise-scale", "2",
                         "--depth-flying", "0.5"]) == 0  # fmt: skip
    import cv2

    path = "train/000000/depth/000000.png"
    plain = cv2.imread(str(tmp_path / "plain" / path), cv2.IMREAD_UNCHANGED)
    other = cv2.imread(str(tmp_path / "other" / path), cv2.IMREAD_UNCHANGED)
    assert plain.shape == other.shape and not np.array_equal(plain, other)
    assert np.all(other[:, :2] == 0)  # shifted right by 2 px
    masks = sorted((tmp_path / "plain" / "train/000000/mask_visib").iterdir())
    masks_other = sorted((tmp_path / "other" / "train/000000/mask_visib").iterdir())
    for a, b in zip(masks, masks_other, strict=True):  # labels are the colour camera's
        np.testing.assert_array_equal(cv2.imread(str(a)), cv2.imread(str(b)))
    with pytest.raises(SystemExit) as exit_:
        dataset_main([*common, "--out", str(tmp_path / "bad"), "--depth-shift", "2"])
    assert exit_.value.code == 2
    assert "DX,DY" in capsys.readouterr().err


def test_generate_dataset_refuses_a_shift_that_moves_the_depth_out(tmp_path, capsys):
    """A shift of a whole side or more, or NaN / inf, would write all-zero depth: refused."""
    common = ["--category", "box", "--instances", "1", "--images", "1", "--width", "64",
              "--height", "48", "--no-progress", "--out", str(tmp_path / "bad")]  # fmt: skip
    for shift in ("64,0", "0,-48", "1e9,0"):
        assert dataset_main([*common, "--depth-shift", shift]) == 2
        err = capsys.readouterr().err
        assert "--depth-shift" in err and "smaller than the 64 x 48 px image" in err
    for shift in ("nan,0", "0,inf"):
        with pytest.raises(SystemExit) as exit_:
            dataset_main([*common, "--depth-shift", shift])
        assert exit_.value.code == 2
        assert f"expected two finite numbers DX,DY, got {shift!r}" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_generate_bag_takes_the_same_depth_camera_options(tmp_path, capsys):
    from offline_training.synthetic.recording_cli import main as bag_main

    common = ["--category", "mug", "--objects", "1", "--duration", "0.2", "--rate", "5",
              "--width", "64", "--height", "48", "--quiet"]  # fmt: skip
    out = tmp_path / "bag"
    assert bag_main([*common, "--out", str(out), "--depth-shift", "1,0",
                     "--depth-noise-scale", "2"]) == 0  # fmt: skip
    import json

    config = json.loads((out / "ground_truth.json").read_text())["config"]
    assert config["sensor"]["shift_px"] == [1.0, 0.0]
    assert config["sensor"]["noise_scale_px"] == 2.0
    assert bag_main([*common, "--out", str(tmp_path / "bad"), "--depth-flying", "3"]) == 2
    assert "flying" in capsys.readouterr().err
