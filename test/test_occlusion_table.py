"""benchmarks/occlusion_table.py: the rows it prints from cse_occlusion JSON files."""

from __future__ import annotations

import json

from benchmarks import occlusion_table


def _file(tmp_path, name="x.json"):
    rows = [{"hidden": "none", "objects": 2, "errors_deg": [1.0, 3.0], "errors_m": [0.01, 0.02]},
            {"hidden": "0.2-0.4", "objects": 2, "errors_deg": [5.0, 50.0],
             "errors_m": [0.01, 0.2]}]  # fmt: skip
    path = tmp_path / name
    path.write_text(json.dumps({"rows": rows}))
    return path


def test_rows_pool_the_occluded_bins(tmp_path, capsys):
    assert occlusion_table.main([str(_file(tmp_path))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| file | unoccluded | occluded, all")
    assert out[2] == ("| x.json | 1.00 / 2.0 / 1.50 | 0.50 / 27.5 / 10.50 | - | "
                      "0.50 / 27.5 / 10.50 (2) | - | - |")  # fmt: skip


def test_a_bad_file_exits_2(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{}")
    assert occlusion_table.main([str(tmp_path / "bad.json")]) == 2
    assert "not a cse_occlusion JSON" in capsys.readouterr().err
