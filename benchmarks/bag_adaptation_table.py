"""The table of ``scripts/cse_bag_adaptation.sh``: every model on every recording set.

    python -m benchmarks.bag_adaptation_table out/cse_bags/mug [--json OUT.json]

Reads ``<dir>/<set>_<model>.json`` (``evaluate_bag`` output; ``before.json`` and each run's
``report.json`` evaluation for the held-out bag s121) and prints, per model and set: objects,
solved, median rotation (deg, an unsolved object counting as a miss), IoU50, 10deg5cm and
5deg2cm; ``--json`` writes those figures (no per-object rows).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

#: recording sets in the order of the table: file prefix -> column title
SETS = {
    "heldout": "held-out bag s121 (other instances)",
    "heldout_more": "held-out bags s122 + s123 (other instances)",
    "revisit": "new recordings of the adapted objects (s221-s223)",
    "train_bags": "the training recordings (objects adapted to)",
    "held_out_all": "all held-out recordings (the first three columns pooled)",
}
#: the sets pooled into ``held_out_all``
HELD_OUT = ("heldout", "heldout_more", "revisit")


def figures(result: dict) -> dict:
    """The table's figures of one ``evaluate_bag`` result."""
    m = result["metrics"]["mean"]
    return {"objects": result["objects"], "solved": result["solved"],
            "median_rot_deg": m["rotation"]["median_deg"], "iou50": m["iou"]["iou50"],
            "10deg5cm": m["n_deg_m_cm"]["10deg5cm"], "5deg2cm": m["n_deg_m_cm"]["5deg2cm"]}


def pooled(results: list[dict]) -> dict:
    """The figures of several ``evaluate_bag`` results taken as one set: the fractions are
    object-weighted means (each is a share of all objects), the median comes from the
    per-object rows (an unsolved object counts as an infinite error)."""
    parts = [figures(r) for r in results]
    n = sum(f["objects"] for f in parts)
    errors = [row["rot_err_deg"] if row["solved"] else float("inf")
              for r in results for row in r["rows"]]  # fmt: skip
    out = {"objects": n, "solved": sum(f["solved"] for f in parts),
           "median_rot_deg": float(np.median(errors))}  # fmt: skip
    for key in ("iou50", "10deg5cm", "5deg2cm"):
        out[key] = sum(f[key] * f["objects"] for f in parts) / n
    return out


def _cell(f: dict) -> str:
    return (f"{f['objects']} / {f['solved']} / {f['median_rot_deg']:.1f} / {f['iou50']:.2f} / "
            f"{f['10deg5cm']:.2f} / {f['5deg2cm']:.2f}")  # fmt: skip


def load(root: Path) -> dict[str, dict[str, dict]]:
    """model -> set -> evaluate_bag result (missing ones absent)."""
    models = ["before"] + sorted(p.name for p in root.iterdir()
                                 if (p / "report.json").is_file())  # fmt: skip
    out: dict[str, dict[str, dict]] = {}
    for name in models:
        row = {}
        held = root / "before.json" if name == "before" else root / name / "report.json"
        if held.is_file():
            data = json.loads(held.read_text())
            row["heldout"] = data if name == "before" else data.get("evaluation", {})
        for prefix in ("heldout_more", "revisit", "train_bags"):
            f = root / f"{prefix}_{name}.json"
            if f.is_file():
                row[prefix] = json.loads(f.read_text())
        out[name] = {k: v for k, v in row.items() if v}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bag_adaptation_table",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="out/cse_bags/<category>")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)
    table = {}
    for name, row in load(Path(args.root)).items():
        table[name] = {k: figures(v) for k, v in row.items()}
        if all(k in row for k in HELD_OUT):
            table[name]["held_out_all"] = pooled([row[k] for k in HELD_OUT])
    print("each cell: objects / solved / median rotation (deg) / IoU50 / 10deg5cm / 5deg2cm")
    print("| model | " + " | ".join(SETS.values()) + " |")
    print("|---" * (len(SETS) + 1) + "|")
    for name, row in table.items():
        cells = [_cell(row[k]) if k in row else "-" for k in SETS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"root": args.root, "sets": SETS,
                                               "models": table}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
