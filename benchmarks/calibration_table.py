"""Markdown rows from ``calibrate-nemo`` / ``calibrate-cse --json`` files: how each model does
on its calibration set, the figures a choice between models is made on (never the test sets).

    python -m benchmarks.calibration_table benchmarks/results/nemo_*_viewcorr_cal_laptop_cpu.json

Columns: file, category, objects, share of the objects within ``max_error_deg`` (30 deg) of the
truth before the correction (the pairs the correction is fitted on), the raw median rotation
error (deg), and the cross-validated median after the correction at the kernel width kept
(deg; "none" when the correction did not pay and was not stored). ``--sort`` orders the rows
by that last figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def row(path: Path) -> dict:
    """The figures of one calibration file (keys as the columns above)."""
    data = json.loads(path.read_text())
    kept = data.get("kept")
    cv = data.get("cv_median_deg", {})
    return {
        "file": path.name,
        "category": data["category"],
        "objects": data["objects"],
        "within": data["pairs"] / data["objects"] if data["objects"] else float("nan"),
        "raw_median_deg": data["median_before_deg"],
        "corrected_cv_deg": cv.get(kept),
    }


def table(rows: list[dict]) -> str:
    """The rows as a markdown table."""
    lines = [
        "| file | category | objects | within 30 deg | raw median (deg) | corrected, CV (deg) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cv = "none" if r["corrected_cv_deg"] is None else f"{r['corrected_cv_deg']:.2f}"
        lines.append(
            f"| {r['file']} | {r['category']} | {r['objects']} | {r['within']:.3f} | "
            f"{r['raw_median_deg']:.2f} | {cv} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="calibrate-nemo / calibrate-cse --json")
    p.add_argument("--sort", action="store_true", help="by the corrected CV median")
    args = p.parse_args(argv)
    try:
        rows = [row(f) for f in args.files]
    except (OSError, KeyError, ValueError) as exc:
        print(f"calibration_table: {exc}", file=sys.stderr)
        return 2
    if args.sort:
        rows.sort(key=lambda r: (r["corrected_cv_deg"] is None, r["corrected_cv_deg"] or 0.0))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
