"""Is one model's median rotation error really lower than another's on the same objects?

    python -m benchmarks.paired_compare benchmarks/results/nemo_margin_mug_cpu.json \\
        --pair pm1:pm0 --pair pm1:bundled

    python -m benchmarks.paired_compare bundled=cse_occ_final_mug_bundled_cpu.json \\
        new=cse_occ_final_mug_new_cpu.json --pair new:bundled --key trans_err_cm

Reads the per-object rows of a ``benchmarks.nemo_compare --json`` file (every run evaluated on
the same objects), or of several files given as ``NAME=FILE`` (e.g. ``evaluate-cse --json``
files of two models on the same objects: each file's rows become run ``NAME``), and prints, per
``--pair A:B``: the change of the median error (A minus B, deg or, for a ``*_cm`` key, cm) with
a 95 % bootstrap interval (objects resampled with replacement, the same objects for both runs),
and the share of objects A estimates better, with a two-sided sign-test p-value (ties
dropped). An interval that contains 0 is no measurable change of the median.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np


def paired_errors(objects: list[dict], a: str, b: str, key: str = "rot_err_deg"):
    """``(errors of a, errors of b)`` on the objects both runs scored, matched by scene, image
    and ground-truth index."""
    def by_object(run: str) -> dict:
        return {(r["category"], r["scene_id"], r["im_id"], r["gt_index"]): r[key]
                for r in objects if r["preset"] == run and r.get(key) is not None}  # fmt: skip

    ea, eb = by_object(a), by_object(b)
    common = sorted(set(ea) & set(eb))
    return np.array([ea[k] for k in common]), np.array([eb[k] for k in common])


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial p-value of ``wins`` against ``losses`` at p = 1/2."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def compare(ea: np.ndarray, eb: np.ndarray, draws: int = 4000, seed: int = 0) -> dict:
    """Median change (a - b), its 95 % bootstrap interval, a's share of better estimates and the
    sign test."""
    if len(ea) == 0:
        raise ValueError("the two runs share no scored object")
    gen = np.random.default_rng(seed)
    diffs = []
    for _ in range(draws):
        pick = gen.integers(0, len(ea), len(ea))
        diffs.append(np.median(ea[pick]) - np.median(eb[pick]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    wins, losses = int(np.sum(ea < eb)), int(np.sum(ea > eb))
    return {"objects": len(ea), "median_a": float(np.median(ea)), "median_b": float(np.median(eb)),
            "change_deg": float(np.median(ea) - np.median(eb)), "ci95_deg": [float(lo), float(hi)],
            "a_better": wins / len(ea), "sign_test_p": sign_test(wins, losses)}  # fmt: skip


def load_runs(specs: list[str]) -> list[dict]:
    """Per-object rows of ``specs``: a file's rows as they are, or, for ``NAME=FILE``, the
    file's rows with ``preset`` set to ``NAME``, or, for ``NAME=FILE@RUN``, the rows of the
    file's run ``RUN`` only (one run of a ``nemo_compare`` file, e.g. the same model measured
    in two files by two versions of the code)."""
    objects = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        path, at, run = (path.rpartition("@") if "@" in path else (path, "", ""))
        rows = json.loads(Path(path if sep else spec).read_text())["objects"]
        if at:
            rows = [r for r in rows if r.get("preset") == run]
            if not rows:
                raise KeyError(f"no rows of run {run!r} in {path}")
        objects += [{**r, "preset": name} for r in rows] if sep else rows
    return objects


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.paired_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="+", help="a benchmarks.nemo_compare --json file, or NAME=FILE "
                   "per run (files with per-object rows, e.g. evaluate-cse --json), or "
                   "NAME=FILE@RUN (run RUN of a nemo_compare file)")
    p.add_argument("--pair", action="append", required=True, metavar="A:B",
                   help="runs to compare (A minus B); repeat")
    p.add_argument("--key", default="rot_err_deg", help="per-object error (default rot_err_deg;"
                   " rot_err_nocs_deg: the mug's NOCS protocol; trans_err_cm: evaluate-cse's "
                   "centre error; trans_err_m: nemo_compare's translation error)")
    args = p.parse_args(argv)  # fmt: skip
    try:
        objects = load_runs(args.json)
    except (OSError, ValueError, KeyError) as exc:
        print(f"paired_compare: error: {' '.join(args.json)}: not JSON with per-object rows "
              f"({exc})", file=sys.stderr)  # fmt: skip
        return 2
    unit = next((u for u in ("cm", "m") if args.key.endswith(f"_{u}")), "deg")
    for pair in args.pair:
        a, _, b = pair.partition(":")
        ea, eb = paired_errors(objects, a, b, args.key)
        if not len(ea):
            print(f"paired_compare: error: runs {a!r} and {b!r} share no scored object in "
                  f"{' '.join(args.json)}", file=sys.stderr)  # fmt: skip
            return 2
        r = compare(ea, eb)
        lo, hi = r["ci95_deg"]
        print(f"{a} vs {b} ({r['objects']} objects, {args.key}): median {r['median_a']:.2f} vs "
              f"{r['median_b']:.2f} {unit}, change {r['change_deg']:+.2f} [{lo:+.2f}, {hi:+.2f}]; "
              f"{a} better on {r['a_better']:.3f} of the objects "
              f"(sign test p = {r['sign_test_p']:.3g})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
