"""offline_training/cli_args.py and the tools that use it: a value a tool cannot use is refused
by argparse (exit 2, the option named) before anything is read or written."""

import argparse
import os

import pytest

from offline_training.cli_args import (
    device_problem,
    nonneg_float,
    nonneg_int,
    output_problem,
    positive_float,
    positive_int,
)


@pytest.mark.parametrize("parse,good,bad", [
    (positive_int, ["1", "300"], ["0", "-1", "1.5", "x", ""]),
    (nonneg_int, ["0", "4"], ["-1", "two"]),
    (positive_float, ["1e-4", "0.5"], ["0", "-1", "nan", "inf", "-inf", "lr"]),
    (nonneg_float, ["0", "0.1"], ["-0.1", "nan"]),
])  # fmt: skip
def test_number_types_accept_and_refuse(parse, good, bad):
    for text in good:
        assert parse(text) == float(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            parse(text)


def test_output_problem_names_what_is_wrong(tmp_path):
    assert output_problem(None, "--json") is None
    assert output_problem(str(tmp_path / "new" / "deeper" / "r.json"), "--json") is None
    assert "is a directory" in output_problem(str(tmp_path), "--out")
    (tmp_path / "afile").write_text("x")
    inside_a_file = str(tmp_path / "afile" / "r.json")
    assert "is a file, not a folder" in output_problem(inside_a_file, "--json")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "not writable" in output_problem(str(locked / "r.json"), "--json")


def test_device_problem():
    import torch

    assert device_problem("cpu") is None
    assert "expected cpu, cuda or cuda:N" in device_problem("banana")
    if not torch.cuda.is_available():
        assert "no CUDA device" in device_problem("cuda:0")


@pytest.mark.parametrize("tool,argv", [
    ("offline_training.pose_train", ["--category", "mug", "--lr", "-1"]),
    ("offline_training.pose_train", ["--category", "mug", "--every-nth", "0"]),
    ("offline_training.cse.train_cli", ["--data", "D", "--category", "mug", "--lr", "-1"]),
    ("offline_training.nemo.train_cli", ["--data", "D", "--category", "mug", "--steps", "0"]),
    ("offline_training.nemo.evaluate", ["--data", "D", "--checkpoint", "C", "--threads", "-1"]),
    ("offline_training.cse.evaluate", ["--data", "D", "--checkpoint", "C", "--max-objects", "0"]),
    ("offline_training.adapt.cli", ["--threads", "0"]),
])  # fmt: skip
def test_tools_refuse_unusable_numbers_before_doing_anything(tool, argv, tmp_path, capsys):
    import importlib

    out = tmp_path / "run"
    module = importlib.import_module(tool)
    with pytest.raises(SystemExit) as exc:
        module.main([*argv, "--out", str(out)])
    assert exc.value.code == 2
    assert "expected" in capsys.readouterr().err
    assert not out.exists()  # nothing written: a corrected rerun is not refused


def test_train_cse_refuses_a_negative_loss_weight():
    from offline_training.cse.train_cli import parse_weights
    from offline_training.train_cli_common import UsageError

    assert parse_weights(["memory=0"])["memory"] == 0.0
    with pytest.raises(UsageError, match="must be a number >= 0"):
        parse_weights(["memory=-1"])
