"""Markdown rows from ``evaluate-cse --json`` files: one row per file and category.

    python -m benchmarks.cse_table benchmarks/results/cse_gate_val_*_cpu.json

Columns: file, category, objects, IoU50, 10deg5cm, 5deg2cm, median rotation (deg), median
translation (cm), median latency per object (ms). ``--sum`` adds, per distinct file name with
the category removed (``--category-free``, e.g. one inlier threshold over all categories), the
sum of IoU50 and of 10deg5cm over its categories: the figure a single setting is chosen by.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

CATEGORIES = ("bottle", "bowl", "box", "camera", "can", "laptop", "mug")


def rows(path: Path) -> list[dict]:
    """Per category of the file: its figures (keys as the columns above)."""
    data = json.loads(path.read_text())
    out = []
    for cat, m in sorted(data["metrics"]["per_category"].items()):
        out.append({
            "file": path.name, "category": cat, "objects": m["count"],
            "iou50": m["iou"]["iou50"], "10deg5cm": m["n_deg_m_cm"]["10deg5cm"],
            "5deg2cm": m["n_deg_m_cm"]["5deg2cm"], "median_deg": m["rotation"]["median_deg"],
            "median_cm": m["translation_median_cm"],
            "latency_ms": data.get("latency", {}).get("median_ms"),
        })  # fmt: skip
    return out


def setting_of(name: str) -> str:
    """The file name without its category part: ``cse_gate_val_box_0.05_cpu.json`` ->
    ``cse_gate_val_*_0.05_cpu.json``."""
    return re.sub(r"_(" + "|".join(CATEGORIES) + r")_", "_*_", name, count=1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cse_table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="evaluate-cse --json files")
    p.add_argument("--sum", action="store_true", help="per setting, sums over the categories")
    args = p.parse_args(argv)
    table = []
    for f in args.files:
        try:
            table.extend(rows(Path(f)))
        except (OSError, ValueError, KeyError) as exc:
            print(f"cse_table: error: {f} is not an evaluate-cse JSON ({exc})", file=sys.stderr)
            return 2
    print("| file | category | objects | IoU50 | 10deg5cm | 5deg2cm | median deg | median cm "
          "| ms/object |\n|---|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in table:
        lat = "-" if r["latency_ms"] is None else f"{r['latency_ms']:.1f}"
        print(f"| {r['file']} | {r['category']} | {r['objects']} | {r['iou50']:.2f} | "
              f"{r['10deg5cm']:.2f} | {r['5deg2cm']:.2f} | {r['median_deg']:.2f} | "
              f"{r['median_cm']:.2f} | {lat} |")  # fmt: skip
    if args.sum:
        sums: dict[str, dict] = defaultdict(lambda: {"n": 0, "iou50": 0.0, "10deg5cm": 0.0})
        for r in table:
            s = sums[setting_of(r["file"])]
            s["n"] += 1
            s["iou50"] += r["iou50"]
            s["10deg5cm"] += r["10deg5cm"]
        print("\n| setting | categories | sum IoU50 | sum 10deg5cm |\n|---|---|---|---|")
        for name, s in sums.items():
            print(f"| {name} | {s['n']} | {s['iou50']:.2f} | {s['10deg5cm']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
