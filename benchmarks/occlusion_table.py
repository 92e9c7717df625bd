"""Markdown rows from ``benchmarks.cse_occlusion --json`` files: one row per file.

    python -m benchmarks.occlusion_table benchmarks/results/cse_layers_test_occlusionbox_*_cpu.json

Columns: file, the unoccluded objects, all occluded objects together, then each bin of hidden
share; each cell ``10deg5cm / median rotation (deg) / median centre error (cm)`` and, for the
bins, the object count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

BINS = ("0.0-0.2", "0.2-0.4", "0.4-0.6", ">0.6")


def cell(deg, metres) -> str:
    """``10deg5cm / median deg / median cm`` of paired errors (deg, m)."""
    r, t = np.asarray(deg, dtype=np.float64), np.asarray(metres, dtype=np.float64)
    if len(r) == 0:
        return "-"
    hit = np.mean((r <= 10.0) & (t <= 0.05))
    return f"{hit:.2f} / {np.median(r):.1f} / {100 * np.median(t):.2f}"


def row(path: Path) -> str:
    """The markdown row of one file (see the module doc)."""
    rows = {r["hidden"]: r for r in json.loads(path.read_text())["rows"]}
    occluded = [rows[b] for b in BINS if b in rows]
    deg = [e for r in occluded for e in r["errors_deg"]]
    metres = [e for r in occluded for e in r["errors_m"]]
    clean = rows.get("none")
    cells = [path.name, "-" if clean is None else cell(clean["errors_deg"], clean["errors_m"]),
             cell(deg, metres)]  # fmt: skip
    for b in BINS:
        r = rows.get(b)
        cells.append("-" if r is None else
                     f"{cell(r['errors_deg'], r['errors_m'])} ({r['objects']})")  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.occlusion_table",
                                description=__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("json", nargs="+", help="benchmarks.cse_occlusion --json files")
    args = p.parse_args(argv)
    print("| file | unoccluded | occluded, all | " + " | ".join(f"hidden {b}" for b in BINS)
          + " |")  # fmt: skip
    print("|" + "---|" * (3 + len(BINS)))
    for name in args.json:
        try:
            print(row(Path(name)))
        except (OSError, ValueError, KeyError) as exc:
            print(f"occlusion_table: error: {name}: not a cse_occlusion JSON ({exc})",
                  file=sys.stderr)  # fmt: skip
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
