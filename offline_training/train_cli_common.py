"""What the ``train-*`` CLIs share (:mod:`.nemo.train_cli`, :mod:`.cse.train_cli`): exit codes
and error lines.

Exit codes: 0 success; 2 bad arguments or settings (``PROG: error: MESSAGE`` on stderr): a
:class:`UsageError` from the CLI's own checks, an unknown category, no training samples, a
:class:`ConfigError` or :class:`CheckpointError` from the trainer; 130 interrupted (continue
with ``--resume``). Any other exception propagates (exit code 1).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class UsageError(Exception):
    """An argument the CLI rejects before training starts (exit code 2)."""


def category_name(name: str) -> str:
    """The registered name of category ``name``; UsageError naming the registered ones."""
    from ros_pose_estimation.core.categories import UnknownCategoryError, get_category

    try:
        return get_category(name).name
    except UnknownCategoryError as exc:
        raise UsageError(str(exc)) from None


def run_training(
    prog: str, start: Callable[[argparse.Namespace], object], args: argparse.Namespace
) -> int:
    """``start(args)`` (check the arguments, build the trainer's config, train) with the exit
    codes of the module doc; returns the exit code."""
    from offline_training.bop_objects import NoSamplesError
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError

    try:
        start(args)
    except (UsageError, NoSamplesError, ConfigError, CheckpointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with --resume", file=sys.stderr)
        return 130
    return 0
