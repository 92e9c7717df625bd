"""benchmarks/paired_compare.py: paired medians, intervals and the sign test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import paired_compare


def _rows(run: str, errors) -> list[dict]:
    return [{"preset": run, "category": "mug", "scene_id": 0, "im_id": i, "gt_index": 0,
             "rot_err_deg": float(e)} for i, e in enumerate(errors)]  # fmt: skip


def test_sign_test_matches_the_binomial():
    assert paired_compare.sign_test(5, 5) == pytest.approx(1.0)
    assert paired_compare.sign_test(10, 0) == pytest.approx(2 / 1024)
    assert paired_compare.sign_test(0, 0) == 1.0


def test_a_uniformly_better_run_has_an_interval_below_zero(tmp_path, capsys):
    gen = np.random.default_rng(0)
    base = gen.uniform(2, 30, 150)
    rows = _rows("old", base) + _rows("new", base - 1.0) + _rows("same", base)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"objects": rows}))
    ea, eb = paired_compare.paired_errors(rows, "new", "old")
    r = paired_compare.compare(ea, eb)
    assert r["change_deg"] == pytest.approx(-1.0)
    assert r["ci95_deg"][1] < 0 and r["a_better"] == 1.0 and r["sign_test_p"] < 1e-10
    tie = paired_compare.compare(*paired_compare.paired_errors(rows, "same", "old"))
    assert tie["change_deg"] == 0.0 and tie["sign_test_p"] == 1.0
    assert paired_compare.main([str(path), "--pair", "new:old"]) == 0
    assert "new vs old (150 objects" in capsys.readouterr().out


def test_errors_exit_2(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"objects": _rows("a", [1.0, 2.0])}))
    assert paired_compare.main([str(path), "--pair", "a:missing"]) == 2
    assert paired_compare.main([str(tmp_path / "none.json"), "--pair", "a:b"]) == 2
    assert "paired_compare: error" in capsys.readouterr().err


def test_named_files_become_runs(tmp_path, capsys):
    rows = _rows("x", [1.0, 2.0, 3.0, 4.0])
    for r in rows:
        r["trans_err_cm"] = r.pop("rot_err_deg")
        del r["preset"]  # evaluate-cse rows carry no run name
    worse = [{**r, "trans_err_cm": r["trans_err_cm"] + 1} for r in rows]
    (tmp_path / "a.json").write_text(json.dumps({"objects": rows}))
    (tmp_path / "b.json").write_text(json.dumps({"objects": worse}))
    argv = [f"new={tmp_path / 'a.json'}", f"old={tmp_path / 'b.json'}", "--pair", "new:old",
            "--key", "trans_err_cm"]
    assert paired_compare.main(argv) == 0
    out = capsys.readouterr().out
    assert "median 2.50 vs 3.50 cm, change -1.00" in out and "better on 1.000" in out


def test_one_run_of_a_file_becomes_a_named_run(tmp_path, capsys):
    """NAME=FILE@RUN: the same run name in two files (one model, two versions of the code)."""
    (tmp_path / "a.json").write_text(json.dumps({"objects": _rows("m", [1.0, 2.0, 3.0])
                                                 + _rows("other", [9.0, 9.0, 9.0])}))
    (tmp_path / "b.json").write_text(json.dumps({"objects": _rows("m", [2.0, 3.0, 4.0])}))
    argv = [f"new={tmp_path / 'a.json'}@m", f"old={tmp_path / 'b.json'}@m", "--pair", "new:old"]
    assert paired_compare.main(argv) == 0
    assert "median 2.00 vs 3.00 deg, change -1.00" in capsys.readouterr().out
    assert paired_compare.main([f"x={tmp_path / 'b.json'}@none", "--pair", "x:x"]) == 2
