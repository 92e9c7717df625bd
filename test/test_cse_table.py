"""benchmarks/cse_table.py: rows from evaluate-cse JSON files and per-setting sums."""

from __future__ import annotations

import json

from benchmarks import cse_table


def _write(path, cat, iou50, acc):
    metrics = {"per_category": {cat: {
        "count": 100, "iou": {"iou50": iou50}, "n_deg_m_cm": {"10deg5cm": acc, "5deg2cm": 0.1},
        "rotation": {"median_deg": 5.0}, "translation_median_cm": 1.0}}}  # fmt: skip
    path.write_text(json.dumps({"metrics": metrics, "latency": {"median_ms": 30.0}}))


def test_rows_and_sums_per_setting(tmp_path, capsys):
    _write(tmp_path / "g_val_box_0.05_cpu.json", "box", 0.7, 0.6)
    _write(tmp_path / "g_val_mug_0.05_cpu.json", "mug", 0.9, 0.5)
    _write(tmp_path / "g_val_mug_0.02_cpu.json", "mug", 0.8, 0.4)
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert cse_table.main(files + ["--sum"]) == 0
    out = capsys.readouterr().out
    row = "| g_val_box_0.05_cpu.json | box | 100 | 0.70 | 0.60 | 0.10 | 5.00 | 1.00 | 30.0 |"
    assert row in out
    assert "| g_val_*_0.05_cpu.json | 2 | 1.60 | 1.10 |" in out
    assert "| g_val_*_0.02_cpu.json | 1 | 0.80 | 0.40 |" in out


def test_a_file_that_is_not_an_evaluation_exits_2(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    assert cse_table.main([str(bad)]) == 2
    assert "cse_table: error" in capsys.readouterr().err
