"""benchmarks.calibration_table: the calibration-set figures a choice between models uses."""

import json

from benchmarks.calibration_table import main, row


def _write(path, kept, cv, pairs=90):
    path.write_text(json.dumps({
        "category": "laptop", "objects": 100, "pairs": pairs, "median_before_deg": 10.5,
        "kept": kept, "cv_median_deg": cv,
    }))  # fmt: skip
    return path


def test_rows_give_the_corrected_median_at_the_width_kept(tmp_path, capsys):
    a = _write(tmp_path / "a.json", "0.12, roll 0.1", {"0.12": 9.9, "0.12, roll 0.1": 9.1})
    b = _write(tmp_path / "b.json", "0.08", {"0.08": 8.7, "0.12": 9.4}, pairs=95)
    c = _write(tmp_path / "c.json", "none", {"0.08": 12.0})  # the correction did not pay
    assert row(a)["corrected_cv_deg"] == 9.1 and row(a)["within"] == 0.9
    assert row(c)["corrected_cv_deg"] is None
    assert main([str(a), str(b), str(c), "--sort"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| b.json", "| a.json", "| c.json"]
    assert "| 0.950 | 10.50 | 8.70 |" in lines[2] and lines[4].endswith("| none |")


def test_an_unreadable_file_exits_2(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{}")
    assert main([str(tmp_path / "bad.json")]) == 2
    assert "calibration_table" in capsys.readouterr().err
