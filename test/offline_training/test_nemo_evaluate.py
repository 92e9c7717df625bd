"""evaluate-nemo on a tiny generated BOP dataset with an untrained tiny model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from offline_training.evaluation import bop_box_to_xyxy
from offline_training.nemo.evaluate import (
    ObjectResult,
    format_summary,
    main,
    summarize,
)
from offline_training.synthetic.bop_reader import BopDataset
from test.offline_training.tiny_nemo import tiny_mug_set


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_mug_set(tmp_path_factory.mktemp("nemo_eval"), instances=1, images=2, objects=2,
                        seed=3, split="test")  # fmt: skip


def test_cli_reports_accuracy_latency_and_writes_json(data, capsys):
    root, ckpt = data
    out = root / "eval.json"
    rc = main([
        "--data", str(root / "data"), "--checkpoint", str(ckpt), "--preset", "fast",
        "--preset", "default", "--max-objects", "2", "--min-visib", "0.0", "--json", str(out),
        "--quiet",
    ])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "Acc@pi/6" in text and "device: cpu" in text
    payload = json.loads(out.read_text())
    assert set(payload["summary"]) == {"fast", "default"}
    for preset in ("fast", "default"):
        m = payload["summary"][preset]["mug"]
        assert m["count"] == 2 and m == payload["summary"][preset]["all"]
        assert 0.0 <= m["acc_pi_6"] <= 1.0 and m["latency_ms_median"] > 0
        assert np.isfinite(m["median_rot_deg"]) and np.isfinite(m["median_trans_cm"])
        n = m["nocs_mug"]  # the NOCS handle protocol: never stricter than the plain score
        assert n["handle_judged"] == 2 and 0.0 <= n["handle_visible_fraction"] <= 1.0
        assert n["acc_pi_6"] >= m["acc_pi_6"] and n["median_rot_deg"] <= m["median_rot_deg"]
    assert "NOCS" in text
    objects = payload["objects"]
    assert len(objects) == 4
    for o in objects:
        assert isinstance(o["handle_visible"], bool)
        assert o["rot_err_nocs_deg"] <= o["rot_err_deg"] + 1e-9
        assert o["handle_visible"] is False or o["rot_err_nocs_deg"] == o["rot_err_deg"]
    fast = [(o["im_id"], o["gt_index"]) for o in objects if o["preset"] == "fast"]
    default = [(o["im_id"], o["gt_index"]) for o in objects if o["preset"] == "default"]
    assert fast == default  # the same objects for every preset
    assert payload["presets"]["fast"]["top_k"] == 4


def test_cli_rejects_missing_inputs(data, tmp_path, capsys):
    root, ckpt = data
    assert main(["--data", str(tmp_path), "--checkpoint", str(ckpt), "--quiet"]) == 2
    assert "no split folder" in capsys.readouterr().err
    assert main(["--data", str(root / "data"), "--checkpoint", str(tmp_path / "x.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--data", str(root / "data"), "--checkpoint", str(ckpt), "--preset", "slow"])
    assert exc.value.code == 2
    rc = main(["--data", str(root / "data"), "--checkpoint", str(ckpt), "--min-visib", "2",
               "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 1 and "no object of mug" in err and "4 with visib_fract < --min-visib 2.0" in err


@pytest.mark.parametrize("missing, named", [
    ("rgb", "rgb (nor gray/)"),
    ("scene_gt.json", "scene_gt.json, the ground-truth poses an evaluation needs"),
    ("scene_camera.json", "scene_camera.json, the camera matrices of its images"),
])  # fmt: skip
def test_cli_names_what_a_scene_folder_lacks_in_one_line(data, tmp_path, capsys, missing, named):
    """Found on opening the dataset, one line and exit 2, not a traceback mid-evaluation."""
    root, ckpt = data
    bop = _written_by_others(root / "data", tmp_path / "data", drop=[f"test/*/{missing}"])
    assert main(["--data", str(bop), "--checkpoint", str(ckpt), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate-nemo: error: scene 000000") and err.count("\n") == 1
    assert f"{bop / 'test' / '000000'}/{named}" in err


@pytest.mark.parametrize("damage", ["missing", "garbage"])
def test_cli_names_an_image_missing_or_damaged_mid_run(data, tmp_path, capsys, damage):
    """One image file of a scene gone or unreadable: one line naming it and exit 2."""
    root, ckpt = data
    bop = _written_by_others(root / "data", tmp_path / "data")
    image = sorted(bop.glob("test/000000/rgb/000000.*"))[0]
    image.unlink() if damage == "missing" else image.write_bytes(b"not an image")
    assert main(["--data", str(bop), "--checkpoint", str(ckpt), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evaluate-nemo: error: ") and err.count("\n") == 1
    assert ("is missing: restore it" if damage == "missing" else "the file is damaged") in err


def _written_by_others(src, dst, drop_keys=(), drop=()):
    """A copy of dataset ``src`` without some scene_gt_info keys and files/folders (globs)."""
    shutil.copytree(src, dst)
    for path in dst.glob("test/*/scene_gt_info.json"):
        info = json.loads(path.read_text())
        for entry in (e for entries in info.values() for e in entries):
            for key in drop_keys:
                del entry[key]
        path.write_text(json.dumps(info))
    for path in (p for pattern in drop for p in dst.glob(pattern)):
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return dst


@pytest.mark.parametrize(
    "drop_keys, drop, visib, box, message",
    [
        (["visib_fract", "px_count_all"], [], "masks", "info",
         "visib_fract derived from masks (mask_visib / mask pixels) for 2 objects"),
        ([], ["test/*/scene_gt_info.json"], "masks", "mask_visib", "boxes from mask_visib for 2"),
        ([], ["test/*/scene_gt_info.json", "test/*/mask", "test/*/mask_visib"], "assumed",
         "model", "treated as visible (visib_fract 1) for 2 objects (no visib_fract, px counts"),
    ],
)  # fmt: skip
def test_cli_derives_what_a_dataset_lacks(data, tmp_path, capsys, drop_keys, drop, visib, box,
                                          message):  # fmt: skip
    """scene_gt_info without visib_fract / px_count_all, or none at all, and no masks either:
    the objects are still found, and the output says how their visibility and box were had."""
    root, ckpt = data
    bop = _written_by_others(root / "data", tmp_path / "data", drop_keys, drop)
    out = tmp_path / "eval.json"
    rc = main(["--data", str(bop), "--checkpoint", str(ckpt), "--preset", "fast", "--max-objects",
               "2", "--min-visib", "0.0", "--json", str(out), "--quiet"])  # fmt: skip
    assert rc == 0
    assert message in capsys.readouterr().err
    payload = json.loads(out.read_text())
    selection = payload["selection"]
    assert selection["seen"] == selection["kept"] == 2 and selection["visib_sources"] == {visib: 2}
    assert selection["box_sources"] == {box: 2} and message in selection["derivation"]
    original = {(s.im_id, k): o for s in BopDataset(root / "data", "test") for k, o in
                enumerate(s.objects)}  # fmt: skip
    assert len(payload["objects"]) == 2
    for row in payload["objects"]:
        assert (row["visib_source"], row["box_source"]) == (visib, box)
        was = original[row["im_id"], row["gt_index"]]
        if visib == "masks":  # masks see only the in-image part: never less visible than BOP's
            assert was.visib_fract - 1e-9 <= row["visib_fract"] <= 1.0
            assert row["visib_fract"] == pytest.approx(
                was.mask_visib.sum() / was.mask.sum(), abs=1e-12
            )
        else:
            assert row["visib_fract"] == 1.0


def test_cli_says_why_no_object_has_a_box(data, tmp_path, capsys):
    root, ckpt = data
    drop = ["test/*/scene_gt_info.json", "test/*/mask", "test/*/mask_visib", "models/*.ply"]
    bop = _written_by_others(root / "data", tmp_path / "data", drop=drop)
    rc = main(["--data", str(bop), "--checkpoint", str(ckpt), "--min-visib", "0", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and "no object of mug" in err
    assert "4 without a visible box (4: no model to project" in err


def test_box_conversion_and_summary():
    assert bop_box_to_xyxy([10, 20, 5, 8]).tolist() == [9.5, 19.5, 15.5, 28.5]
    rows = [
        ObjectResult("default", "mug", 0, i, 0, 1.0, err, 0.01 * i, 0.5, 10.0 * (i + 1), 20, True)
        for i, err in enumerate([5.0, 20.0, 50.0, 1.0])
    ]
    summary = summarize(rows)
    m = summary["default"]["mug"]
    assert m["acc_pi_6"] == 0.75 and m["acc_pi_18"] == 0.5
    assert m["median_rot_deg"] == 12.5 and m["median_trans_cm"] == pytest.approx(1.5)
    assert m["latency_ms_median"] == 25.0
    assert "default" in format_summary(summary, "cpu")


def test_parse_variants_builds_validated_configs():
    import pytest

    from offline_training.nemo.evaluate import parse_variants
    from ros_pose_estimation.core.errors import ConfigError

    variants = parse_variants(['J={"refinement": {"steps": 40, "lr": 0.1}}',
                               'K={"init_vertices": 256}',
                               'L={"refinement": {"method": "lm", "max_step": 0.2}}'])  # fmt: skip
    assert variants["J"].refinement.steps == 40 and variants["J"].refinement.lr == 0.1
    assert variants["J"].refinement.method == "adam"
    assert variants["K"].init_vertices == 256
    assert variants["L"].refinement.method == "lm" and variants["L"].refinement.max_step == 0.2
    bad_ones = ("J", "=1", 'J={"steps": 3', "J=[1]", 'J={"nope": 1}',
                'J={"refinement": {"steps": -1}}', 'J={"refinement": {"method": "sgd"}}',
                'J={"refinement": {"method": "lm", "lr": 0.1}}', 'J={"coarse": null}')
    for bad in bad_ones:
        with pytest.raises(ConfigError):
            parse_variants([bad])


def test_gravity_passes_the_world_up_from_the_camera_poses(data):
    """``evaluate(..., gravity=)``: the named estimators get the world's +z in the camera
    (from ``cam_R_w2c``), the others none; the generator's objects stand on that up."""
    from offline_training.nemo.evaluate import evaluate
    from ros_pose_estimation.core.estimation import PoseEstimate

    root, _ = data
    dataset = BopDataset(root / "data", "test")

    class Recorder:
        categories = ("mug",)

        def __init__(self):
            self.ups = []

        def estimate(self, rgb, dets, intr, up=None):
            self.ups.append(up)
            return [PoseEstimate(d.category, np.eye(3), np.array([0.0, 0.0, 1.0]), 0.5,
                                 np.ones(3)) for d in dets]  # fmt: skip

    with_up, without = Recorder(), Recorder()
    evaluate(dataset, {"g": with_up, "p": without}, min_visib=0.0, gravity=["g"])
    assert all(up is None for up in without.ups)
    assert with_up.ups[0] is None  # the untimed warm-up call
    sample = dataset[0]
    up = with_up.ups[1]  # the first image's timed call
    expected = sample.T_world_cam[:3, :3].T @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(up, expected)
    np.testing.assert_allclose(sample.objects[0].R[:, 2], expected, atol=1e-6)  # stands on it
