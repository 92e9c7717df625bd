"""argparse value types that refuse what a tool cannot use, before it reads or writes anything.

``type=positive_int`` and friends make argparse exit with status 2 and a message naming the
option (``argument --lr: expected a number > 0, got '-1'``) instead of the tool failing later
with a traceback, after work it then loses, or (a learning rate of -1) not failing at all.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path


def _number(kind: type, test: Callable[[float], bool], need: str) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}") from None
        if not (math.isfinite(value) and test(value)):
            raise argparse.ArgumentTypeError(f"expected {need}, got {text!r}")
        return value

    parse.__name__ = need  # argparse names the type in some messages
    return parse


#: an integer >= 1 (steps, batch sizes, every n-th frame, object limits)
positive_int = _number(int, lambda v: v >= 1, "an integer >= 1")
#: an integer >= 0 (thread counts where 0 means torch's default)
nonneg_int = _number(int, lambda v: v >= 0, "an integer >= 0")
#: a finite number > 0
positive_float = _number(float, lambda v: v > 0, "a number > 0")
#: a finite number >= 0 (learning rates: 0 keeps the weights, e.g. to check a start point;
#: loss weights: 0 turns a term off)
nonneg_float = _number(float, lambda v: v >= 0, "a number >= 0")


def output_problem(path: str | None, option: str) -> str | None:
    """Why the tool could not write its output file ``path`` (given as ``option``), checked
    before the work that makes it; None when it can (or no path was given)."""
    if not path:
        return None
    target = Path(path)
    if target.is_dir():
        return f"{option} {path} is a directory; name a file"
    folder = target.parent
    while not folder.exists():  # the tool makes missing folders: look at the first that exists
        folder = folder.parent
    if not folder.is_dir():
        return f"{option} {path}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK):
        return f"{option} {path}: {folder} is not writable"
    return None


def device_problem(device: str) -> str | None:
    """Why ``device`` is not a torch device the tools run on (``cpu``, ``cuda``, ``cuda:N``),
    or ``cuda`` without a CUDA device; None when it is fine."""
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        return f"--device {device!r}: expected cpu, cuda or cuda:N"
    if kind == "cuda" and not torch.cuda.is_available():
        return f"--device {device}, but torch sees no CUDA device (use --device cpu)"
    return None
