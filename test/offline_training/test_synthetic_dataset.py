"""``generate-dataset``: a tiny end-to-end run, its files, determinism and argument errors."""

import json

import numpy as np
import pytest

from offline_training.synthetic.bop import BopDataset
from offline_training.synthetic.cli import dataset_main

TINY = ["--category", "mug", "--category", "box", "--instances", "2", "--images", "4",
        "--width", "64", "--height", "48", "--objects-per-image", "1..2", "--no-progress"]


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_cli_writes_a_readable_bop_dataset(tmp_path, capsys):
    out = tmp_path / "ds"
    assert dataset_main([*TINY, "--out", str(out), "--seed", "0"]) == 0
    summary = capsys.readouterr().out
    assert "wrote 4 images" in summary and str(out) in summary and "visib_fract" in summary

    info = json.loads((out / "models/models_info.json").read_text())
    assert sorted(int(k) for k in info) == [1, 2, 3, 4]
    assert [info[k]["category"] for k in ("1", "2", "3", "4")] == ["mug", "mug", "box", "box"]
    assert all((out / f"models/obj_{i:06d}.ply").exists() for i in range(1, 5))

    ds = BopDataset(out, "train")
    assert len(ds) == 4
    n_objects = 0
    for s in ds:
        assert s.rgb.shape == (48, 64, 3) and s.depth.shape == (48, 64)
        assert 1 <= len(s.objects) <= 2
        for obj in s.objects:
            assert obj.category in ("mug", "box") and 1 <= obj.obj_id <= 4
            assert obj.mask is not None and obj.mask_visib is not None
            assert not np.any(obj.mask_visib & ~obj.mask)
            assert 0.0 <= obj.visib_fract <= 1.0
            assert obj.t[2] > 0.1  # in front of the camera
            np.testing.assert_allclose(obj.R @ obj.R.T, np.eye(3), atol=1e-9)
        n_objects += len(s.objects)
    assert len(list((out / "train/000000/mask").iterdir())) == n_objects
    assert len(list((out / "train/000000/mask_visib").iterdir())) == n_objects


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, capsys):
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        assert dataset_main([*TINY, "--out", str(tmp_path / name), "--seed", seed]) == 0
    a, b, c = (_files(tmp_path / n) for n in "abc")
    assert a == b
    rgb_a = {k: v for k, v in a.items() if "/rgb/" in k}
    rgb_c = {k: v for k, v in c.items() if "/rgb/" in k}
    assert rgb_a.keys() == rgb_c.keys()
    assert all(rgb_a[k] != rgb_c[k] for k in rgb_a)


def test_unknown_category_exits_2_listing_the_known_ones(tmp_path, capsys):
    code = dataset_main(["--category", "teapot", "--out", str(tmp_path / "x"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "teapot" in err and "mug" in err and "laptop" in err
    assert not (tmp_path / "x").exists()


def test_bad_range_and_non_empty_split(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        dataset_main([*TINY, "--out", str(tmp_path), "--objects-per-image", "3..1"])
    assert exc.value.code == 2
    out = tmp_path / "ds"
    (out / "train" / "000000").mkdir(parents=True)
    assert dataset_main([*TINY, "--out", str(out)]) == 1
    assert "not empty" in capsys.readouterr().err


def test_hfov_range_gives_each_image_its_camera_and_fill_sets_the_distance(tmp_path, capsys):
    out = tmp_path / "cams"
    argv = [*TINY, "--out", str(out), "--hfov", "40..80", "--fill", "0.2..0.3"]
    assert dataset_main(argv) == 0
    cams = json.loads((out / "train/000000/scene_camera.json").read_text())
    fx = np.array([c["cam_K"][0] for c in cams.values()])
    hfov = np.rad2deg(2 * np.arctan(32.0 / fx))  # width 64
    assert np.all((hfov > 40 - 1e-6) & (hfov < 80 + 1e-6)) and np.ptp(hfov) > 1.0
    assert dataset_main([*TINY, "--out", str(tmp_path / "near"), "--fill", "0.8..0.9"]) == 0
    far = [o.t[2] for s in BopDataset(out, "train") for o in s.objects]
    near = [o.t[2] for s in BopDataset(tmp_path / "near", "train") for o in s.objects]
    assert np.median(far) > np.median(near)  # smaller fill: the camera stands farther away
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        dataset_main([*TINY, "--out", str(tmp_path / "bad"), "--hfov", "80..40"])
    assert info.value.code == 2 and "need 0 < LO <= HI" in capsys.readouterr().err


def test_max_distance_caps_how_far_the_camera_stands(tmp_path, capsys):
    out = tmp_path / "capped"
    far = [*TINY, "--fill", "0.05..0.06"]  # far away without the cap
    assert dataset_main([*far, "--out", str(tmp_path / "free")]) == 0
    assert dataset_main([*far, "--out", str(out), "--max-distance", "0.8"]) == 0
    free = [np.linalg.norm(o.t) for s in BopDataset(tmp_path / "free", "train") for o in s.objects]
    capped = [np.linalg.norm(o.t) for s in BopDataset(out, "train") for o in s.objects]
    assert min(free) > 1.5
    assert max(capped) < 0.8 + 0.6  # scene centre within 0.8 m; objects within its sphere
    capsys.readouterr()
    assert dataset_main([*TINY, "--out", str(tmp_path / "bad"), "--max-distance", "0"]) == 2
    assert "max_distance must be > 0" in capsys.readouterr().err


def test_elevation_range_sets_where_the_camera_looks_from(tmp_path, capsys):
    out = tmp_path / "high"
    assert dataset_main([*TINY, "--out", str(out), "--elevation", "70..80"]) == 0
    cams = json.loads((out / "train/000000/scene_camera.json").read_text())
    for cam in cams.values():  # the optical axis in the world (table) frame, pointing down
        axis = np.array(cam["cam_R_w2c"]).reshape(3, 3).T @ [0.0, 0.0, 1.0]
        assert 70.0 - 1e-6 <= np.degrees(np.arcsin(-axis[2])) <= 80.0 + 1e-6
    capsys.readouterr()
    assert dataset_main([*TINY, "--out", str(tmp_path / "bad"), "--elevation", "60..95"]) == 2
    assert "elevation_deg must satisfy" in capsys.readouterr().err


@pytest.mark.parametrize("extra,said", [
    (["--width", "0"], "expected an integer >= 1"),
    (["--hfov", "200"], "--hfov must lie in (0, 180) deg"),
    (["--backgrounds", "NO_SUCH_DIR"], "holds no .png / .jpg / .bmp photo"),
])  # fmt: skip
def test_generate_dataset_refuses_what_it_cannot_render(extra, said, tmp_path, capsys):
    argv = ["--category", "mug", "--instances", "1", "--images", "1", "--out",
            str(tmp_path / "d"), "--no-progress"]  # fmt: skip
    extra = [str(tmp_path / e) if e == "NO_SUCH_DIR" else e for e in extra]
    try:
        code = dataset_main([*argv, *extra])
    except SystemExit as exc:  # argparse's own refusal
        code = exc.code
    assert code == 2 and said in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
