"""The ``train-*`` CLIs' shared exit codes and error lines."""

from __future__ import annotations

import argparse

import pytest

from offline_training.bop_objects import NoSamplesError
from offline_training.train_cli_common import UsageError, category_name, run_training
from ros_pose_estimation.core.errors import CheckpointError, ConfigError

ARGS = argparse.Namespace(value=3)


def _raising(exc: BaseException):
    def start(args):
        raise exc

    return start


def test_success_passes_the_arguments_and_exits_0():
    seen = []
    assert run_training("train-x", seen.append, ARGS) == 0
    assert seen == [ARGS]


@pytest.mark.parametrize("exc", [UsageError, ConfigError, CheckpointError, NoSamplesError])
def test_project_errors_exit_2_with_one_line(exc, capsys):
    assert run_training("train-x", _raising(exc("bad flag")), ARGS) == 2
    assert capsys.readouterr().err == "train-x: error: bad flag\n"


def test_interrupt_exits_130_and_says_how_to_continue(capsys):
    assert run_training("train-x", _raising(KeyboardInterrupt()), ARGS) == 130
    assert capsys.readouterr().err == "train-x: interrupted; continue with --resume\n"


def test_other_errors_propagate():
    with pytest.raises(RuntimeError, match="bug"):
        run_training("train-x", _raising(RuntimeError("bug")), ARGS)


def test_category_name_is_canonical_and_unknown_ones_are_usage_errors(capsys):
    assert category_name(" MUG ") == "mug"
    with pytest.raises(UsageError, match="unknown category 'teapot'; registered: "):
        category_name("teapot")
    assert run_training("train-x", lambda a: category_name("teapot"), ARGS) == 2
    assert capsys.readouterr().err.startswith("train-x: error: unknown category 'teapot'")
