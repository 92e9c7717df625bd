"""The table of ``scripts/cse_bag_adaptation.sh``: every model on every recording set.

    python -m benchmarks.bag_adaptation_table out/cse_bags/mug [--json OUT.json]

Reads ``<dir>/<set>_<model>.json`` (``evaluate_bag`` output; ``before.json`` and each run's
``report.json`` evaluation for the held-out bag s121) and prints, per model and set: objects,
solved, median rotation (deg, an unsolved object counting as a miss), IoU50, 10deg5cm and
5deg2cm; then per adapted model the change of the pooled held-out median against ``before``
with a 95 % bootstrap interval (:func:`median_change`: the same frames, resampled by object
track, because the frames of one track are not independent), and the same for the change of
the 10deg5cm and 5deg2cm shares; ``--json`` writes those figures
(no per-object rows).
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


def _paired_errors(before: list[dict], after: list[dict]):
    """Rotation (deg) and translation (cm) errors, ``[F x 2]`` each (unsolved: inf), of the
    frames both results scored, keyed by ``(recording, frame, track_id)``, and each frame's
    track ``(recording, track_id)``."""
    def rows(results):
        return {(r["recording"], r["frame"], r["track_id"]):
                (r["rot_err_deg"], r["trans_err_cm"]) if r["solved"] else (np.inf, np.inf)
                for res in results for r in res["rows"]}  # fmt: skip

    a, b = rows(before), rows(after)
    keys = sorted(set(a) & set(b))
    tracks = [(k[0], k[2]) for k in keys]
    return (np.array([a[k] for k in keys]).reshape(-1, 2),
            np.array([b[k] for k in keys]).reshape(-1, 2), tracks)  # fmt: skip


#: the shares whose change is bootstrapped too: name -> (max rotation deg, max translation cm)
SHARES = {"10deg5cm": (10.0, 5.0), "5deg2cm": (5.0, 2.0)}


def median_change(before: list[dict], after: list[dict], draws: int = 2000,
                  seed: int = 0) -> dict:  # fmt: skip
    """Median rotation error after minus before on the frames both scored, and its 95 %
    interval by a bootstrap over object tracks (``draws`` resamples of the tracks with
    replacement, each taking all its frames); the same for the shares of :data:`SHARES`
    (``change_<name>``, ``ci95_<name>``). An interval that contains 0 is no measurable
    change."""
    a, b, tracks = _paired_errors(before, after)
    names = sorted(set(tracks))
    index = {t: i for i, t in enumerate(names)}
    of_track = np.array([index[t] for t in tracks])
    members = [np.flatnonzero(of_track == i) for i in range(len(names))]
    hits = {k: ((b[:, 0] < r) & (b[:, 1] < c)).astype(float)
            - ((a[:, 0] < r) & (a[:, 1] < c)).astype(float)
            for k, (r, c) in SHARES.items()}  # fmt: skip
    gen = np.random.default_rng(seed)
    diffs, shares = [], {k: [] for k in SHARES}
    for _ in range(draws):
        pick = np.concatenate([members[i] for i in gen.integers(0, len(names), len(names))])
        diffs.append(np.median(b[pick, 0]) - np.median(a[pick, 0]))
        for k in SHARES:
            shares[k].append(hits[k][pick].mean())
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    out = {"frames": len(a), "tracks": len(names), "change_deg": float(np.median(b[:, 0]) -
           np.median(a[:, 0])), "ci95_deg": [float(lo), float(hi)]}  # fmt: skip
    for k in SHARES:
        lo, hi = np.percentile(shares[k], [2.5, 97.5])
        out[f"change_{k}"] = float(hits[k].mean())
        out[f"ci95_{k}"] = [float(lo), float(hi)]
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
    table, changes = {}, {}
    loaded = load(Path(args.root))
    for name, row in loaded.items():
        table[name] = {k: figures(v) for k, v in row.items()}
        if all(k in row for k in HELD_OUT):
            table[name]["held_out_all"] = pooled([row[k] for k in HELD_OUT])
            if name != "before" and all(k in loaded.get("before", {}) for k in HELD_OUT):
                changes[name] = median_change([loaded["before"][k] for k in HELD_OUT],
                                              [row[k] for k in HELD_OUT])  # fmt: skip
    print("each cell: objects / solved / median rotation (deg) / IoU50 / 10deg5cm / 5deg2cm")
    print("| model | " + " | ".join(SETS.values()) + " |")
    print("|---" * (len(SETS) + 1) + "|")
    for name, row in table.items():
        cells = [_cell(row[k]) if k in row else "-" for k in SETS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, c in changes.items():
        lo, hi = c["ci95_deg"]
        print(f"{name}: held-out median {c['change_deg']:+.2f} deg against before, 95 % "
              f"interval over {c['tracks']} tracks [{lo:+.2f}, {hi:+.2f}] ({c['frames']} frames)")
        for k in SHARES:
            lo, hi = c[f"ci95_{k}"]
            print(f"{name}: held-out {k} {c[f'change_{k}']:+.3f} against before, 95 % "
                  f"interval [{lo:+.3f}, {hi:+.3f}]")
    if args.json:
        Path(args.json).write_text(json.dumps({"root": args.root, "sets": SETS,
                                               "models": table, "held_out_change": changes},
                                              indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
