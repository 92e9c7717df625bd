"""What does an estimate's score say about whether it is right? Per category: how well the
score ranks right estimates above wrong ones, how often an estimate is right in each quarter
of the scores, and the ``min_score`` that keeps estimates right at a target rate.

    python -m benchmarks.score_reliability \\
        --choose cal=benchmarks/results/nemo_score_cal_mug_cpu.json \\
        --apply ood=benchmarks/results/nemo_score_ood_mug_cpu.json --target 0.95

Reads the per-object rows of ``benchmarks.nemo_compare --json``, ``evaluate-nemo --json`` or
``evaluate-cse --json`` files. An estimate is *right* when its rotation is within
``--max-deg`` (30) of the truth and, with ``--max-cm``, its centre within that many cm (RGB-D:
``--max-deg 10 --max-cm 5`` is 10deg5cm); an object without an estimate counts as wrong and
is never kept. For each file (or ``--run`` preset of a nemo_compare file) it prints:

- AUROC: the chance that a right estimate scores above a wrong one (0.5: the score says
  nothing; 1: a threshold separates them);
- the share of right estimates in each quarter of the scores (lowest first), with the
  quarter's score range;
- with ``--choose`` and ``--target T``: the lowest ``min_score`` whose kept estimates of the
  ``--choose`` file are right at rate >= T, and what that threshold keeps and how often the
  kept ones are right on each ``--apply`` file. Choose it on a calibration set, judge it on
  a test set: a threshold read off the test set itself describes that set and nothing more.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load_rows(path: str | Path, run: str | None = None) -> list[dict]:
    """The per-object rows of a result file; for a nemo_compare file with several runs, those
    of ``run`` (required then)."""
    rows = json.loads(Path(path).read_text())["objects"]
    presets = sorted({r["preset"] for r in rows if "preset" in r})
    if len(presets) > 1:
        if run is None:
            raise ValueError(f"{path} holds runs {presets}: name one with --run")
        rows = [r for r in rows if r.get("preset") == run]
    elif run is not None and presets and presets != [run]:
        raise ValueError(f"{path} holds run {presets[0]!r}, not {run!r}")
    if not rows:
        raise ValueError(f"{path}: no object rows")
    return rows


def right_and_scores(rows: list[dict], max_deg: float, max_cm: float | None):
    """``(right [N] bool, score [N] float)``: an object without an estimate is wrong with
    score -inf (no threshold keeps it)."""
    right, score = [], []
    for r in rows:
        err = r.get("rot_err_deg")
        if err is None or r.get("score") is None or r.get("solved") is False:
            right.append(False)
            score.append(-np.inf)
            continue
        ok = err <= max_deg
        if max_cm is not None:
            cm = r["trans_err_cm"] if "trans_err_cm" in r else 100.0 * r["trans_err_m"]
            ok = ok and cm <= max_cm
        right.append(ok)
        score.append(float(r["score"]))
    return np.array(right), np.array(score)


def auroc(right: np.ndarray, score: np.ndarray) -> float:
    """P(score of a right estimate > score of a wrong one), ties counting half; NaN when
    either class is empty."""
    pos, neg = score[right], score[~right]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def quarters(right: np.ndarray, score: np.ndarray) -> list[tuple[float, float, int, float]]:
    """``(lowest score, highest score, objects, share right)`` of each quarter of the solved
    estimates by score, lowest first."""
    solved = np.isfinite(score)
    order = np.argsort(score[solved], kind="stable")
    s, r = score[solved][order], right[solved][order]
    return [(float(s[p].min()), float(s[p].max()), len(p), float(r[p].mean()))
            for p in np.array_split(np.arange(len(s)), 4) if len(p)]  # fmt: skip


def choose_threshold(right: np.ndarray, score: np.ndarray, target: float) -> float | None:
    """The lowest score threshold whose kept estimates (score >= it) are right at rate >=
    ``target``; None when no threshold reaches it."""
    for t in np.unique(score[np.isfinite(score)]):
        kept = score >= t
        if right[kept].mean() >= target:
            return float(t)
    return None


def kept_at(right: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    """``(share of all objects kept, share of the kept that are right)`` at ``threshold``."""
    kept = score >= threshold
    return float(kept.mean()), float(right[kept].mean()) if kept.any() else float("nan")


def report(name: str, right: np.ndarray, score: np.ndarray) -> str:
    lines = [f"{name}: {len(right)} objects, {right.mean():.3f} right, "
             f"AUROC {auroc(right, score):.3f}"]  # fmt: skip
    for i, (lo, hi, n, share) in enumerate(quarters(right, score), 1):
        lines.append(f"  quarter {i} (score {lo:.3f}..{hi:.3f}, {n} objects): {share:.3f} right")
    return "\n".join(lines)


def _named(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {text!r}")
    return name, path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.score_reliability", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--choose", type=_named, metavar="NAME=FILE",
                   help="the set the threshold is chosen on (a calibration set)")
    p.add_argument("--apply", type=_named, action="append", default=[], metavar="NAME=FILE",
                   help="a set the threshold is judged on (repeat)")
    p.add_argument("--run", default=None, help="the run of nemo_compare files with several")
    p.add_argument("--max-deg", type=float, default=30.0, help="right: rotation error <= this")
    p.add_argument("--max-cm", type=float, default=None, help="right: and centre error <= this")
    p.add_argument("--target", type=float, default=0.95,
                   help="share of kept estimates that must be right (default 0.95)")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)  # fmt: skip
    files = ([args.choose] if args.choose else []) + args.apply
    if not files:
        p.error("give --choose and/or --apply")
    if not 0.0 < args.target <= 1.0:
        p.error(f"--target must lie in (0, 1], got {args.target}")
    try:
        sets = {name: right_and_scores(load_rows(path, args.run), args.max_deg, args.max_cm)
                for name, path in files}  # fmt: skip
    except (OSError, ValueError, KeyError) as exc:
        print(f"score_reliability: error: {exc}", file=sys.stderr)
        return 2
    out: dict = {"max_deg": args.max_deg, "max_cm": args.max_cm, "target": args.target,
                 "sets": {}}  # fmt: skip
    for name, (right, score) in sets.items():
        print(report(name, right, score))
        out["sets"][name] = {"objects": len(right), "right": float(right.mean()),
                             "auroc": auroc(right, score), "quarters": quarters(right, score)}
    if args.choose:
        right, score = sets[args.choose[0]]
        threshold = choose_threshold(right, score, args.target)
        out["threshold"] = threshold
        if threshold is None:
            print(f"no min_score keeps {args.choose[0]}'s estimates right at {args.target}")
        else:
            print(f"min_score {threshold:.3f} (chosen on {args.choose[0]} for {args.target} "
                  "right):")  # fmt: skip
            for name, (right, score) in sets.items():
                kept, share = kept_at(right, score, threshold)
                print(f"  {name}: keeps {kept:.3f} of the objects, {share:.3f} of them right")
                out["sets"][name]["at_threshold"] = {"kept": kept, "right": share}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
