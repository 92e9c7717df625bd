"""``python -m offline_training.bags.cli extract``: report on stdout, exit status, errors."""

import json
import os

import pytest

from offline_training.bags.cli import main


def test_extract_prints_the_report_and_writes_json(bags, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(
        [
            "extract",
            str(bags["sqlite3"]),
            "--cache",
            str(tmp_path / "c"),
            "--json",
            str(out),
            "--chunk-frames",
            "5",
        ]
    )
    text = capsys.readouterr()
    assert rc == 0
    assert "complete" in text.out and "frames: 10 of 10" in text.out
    assert "tracks: 3 (bottle 1, box 1, mug 1)" in text.out
    assert "chunk_00001.npz" in text.err
    (data,) = json.loads(out.read_text())
    assert data["frames"] == 10 and data["status"] == "complete"


def test_a_single_db3_file_is_extracted(bags, tmp_path, capsys):
    (single,) = bags["sqlite3"].glob("*.db3")
    assert main(["extract", str(single), "--cache", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "[rosbag2 sqlite3" in out and "complete" in out and "frames: 10 of 10" in out


def test_a_damaged_bag_fails_but_the_others_are_extracted(bags, tools, tmp_path, capsys):
    cut = tools.copy_bag(bags["mcap"], tmp_path / "cut")
    (storage,) = cut.glob("*.mcap")
    os.truncate(storage, storage.stat().st_size // 2)
    rc = main(["extract", str(cut), str(bags["sqlite3"]), "--cache", str(tmp_path / "c")])
    text = capsys.readouterr()
    assert rc == 1
    assert "truncated" in text.out and "complete" in text.out
    assert f"{storage}: damaged or truncated" in text.err


def test_bad_arguments(bags, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["extract", str(bags["sqlite3"]), "--cache", "c", "--topic", "colour=/x"])
    assert info.value.code == 2
    assert (
        main(["extract", str(bags["sqlite3"]), "--cache", str(tmp_path), "--objects", "first_box"])
        == 2
    )
    assert "initial_boxes" in capsys.readouterr().err
