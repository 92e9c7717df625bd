"""TF-consensus pseudo-labels on recorded bags: label accuracy per frame vs consensus.

    python -m benchmarks.tf_consensus_labels [--bag data/demo/demo_bag] [--bag BAG2 ...] \\
        [--cache out/world_fusion] [--preset default] [--every 1] [--json F]

Per bag (a ``generate-bag`` recording with ``ground_truth.json``):

1. **Estimates**: the bundled RGB models' per-frame estimates of every frame, cached by
   :mod:`benchmarks.world_fusion` in ``<cache>/<bag>_<preset>.npz`` (made there when missing).
2. **Consensus** (:mod:`offline_training.bags.tf_consensus`): camera poses from the bag's
   ``/tf`` at each image stamp (fixed frame: the recording's world); estimates grouped into
   objects by their fixed-frame centres; per object the consensus pose, carried back into every
   frame where the object was estimated. Depth and ground truth are not used.
3. **Scores** (evaluation only) against the ground truth, as :mod:`benchmarks.world_fusion`
   (symmetry-aware rotation error, centre distance): per category, the per-frame estimates and
   the consensus labels of the same frames (all frames of accepted objects: "labels kept"):
   median rotation error (deg), Acc@pi/6, Acc@pi/18, median centre error (cm); wall time of
   grouping + consensus.

Prints a table; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _scores(rows: list) -> dict:
    if not rows:
        return {"n": 0}
    arr = np.asarray(rows, dtype=np.float64)
    return {"n": len(arr), "rot_median_deg": float(np.median(arr[:, 0])),
            "acc_pi_6": float(np.mean(arr[:, 0] <= 30.0)),
            "acc_pi_18": float(np.mean(arr[:, 0] <= 10.0)),
            "trans_median_cm": float(100 * np.median(arr[:, 1]))}  # fmt: skip


def label_bag(est: dict, tf, truth, every: int, config=None) -> dict:
    """Consensus labels of one bag's cached estimates and their scores (module docstring)."""
    from offline_training.bags.tf_consensus import consensus, group_estimates

    frames = set(int(s) for s in est["frames"][::every])
    keep = np.array([int(s) in frames for s in est["stamp"]], dtype=bool)
    stamps = est["stamp"][keep].astype(np.int64)
    cats = est["category"][keep].astype(str)
    R, t, size, score = est["R"][keep], est["t"][keep], est["size"][keep], est["score"][keep]
    start = time.perf_counter()
    T = np.stack([tf.lookup(truth.world_frame, truth.frame_id, int(s)) for s in stamps])
    tf_s = time.perf_counter() - start
    start = time.perf_counter()
    groups = group_estimates(cats, t, T, config)
    objects, labels = [], {}
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        c = consensus(cats[idx[0]], R[idx], t[idx], size[idx], score[idx], T[idx], config)
        objects.append(c.summary())
        if c.accepted:
            for i, L in zip(idx, c.labels_in_camera(T[idx]), strict=True):
                labels[int(i)] = (L, bool(c.inliers[idx.tolist().index(i)]))
    wall = time.perf_counter() - start
    rows: dict[str, dict[str, list]] = {}
    for i in range(len(stamps)):
        kinds = [("per_frame", R[i], t[i])]
        if i in labels:
            L, inlier = labels[i]
            kinds += [("per_frame_kept", R[i], t[i]), ("consensus", L[:3, :3], L[:3, 3])]
            if not inlier:
                kinds += [("outlier_frames_per_frame", R[i], t[i]),
                          ("outlier_frames_consensus", L[:3, :3], L[:3, 3])]  # fmt: skip
        for kind, r, tt in kinds:
            m = truth.match(int(stamps[i]), cats[i], r, tt)
            if m is not None:
                for key in (cats[i], "all"):
                    rows.setdefault(key, {}).setdefault(kind, []).append(
                        (m.rotation_error_deg, m.translation_error_m))
    table = {c: {k: _scores(v) for k, v in kinds.items()} for c, kinds in sorted(rows.items())}
    for c in table:
        table[c]["labels_kept"] = table[c].get("consensus", {}).get("n", 0)
        table[c]["estimates"] = table[c]["per_frame"]["n"]
    if config is not None:
        from dataclasses import asdict

        table["config"] = asdict(config)
    return {"categories": table, "objects": objects, "consensus_seconds": wall,
            "tf_lookup_seconds": tf_s, "estimates": int(len(stamps)),
            "frames": len(frames)}  # fmt: skip


def print_report(name: str, res: dict) -> None:
    print(f"\n{name}: {res['estimates']} estimates in {res['frames']} frames, consensus "
          f"{1e3 * res['consensus_seconds']:.0f} ms (TF lookups "
          f"{1e3 * res['tf_lookup_seconds']:.0f} ms)")  # fmt: skip
    print("(per-frame -> consensus on the frames of kept labels)")
    print("| category | labels kept / estimates | median rot (deg) per-frame -> consensus | "
          "Acc@pi/6 | Acc@pi/18 | median centre (cm) | flipped frames: median rot |")
    print("|---|---|---|---|---|---|---|")
    for c, row in res["categories"].items():
        if c == "config":
            continue
        k = row.get("consensus", {"n": 0})
        if not k["n"]:
            p = row["per_frame"]
            print(f"| {c} | 0 / {p['n']} | {p['rot_median_deg']:.1f} -> - | | | | |")
            continue
        p = row["per_frame_kept"]  # the same frames as the labels
        o_p, o_c = row.get("outlier_frames_per_frame"), row.get("outlier_frames_consensus")
        flips = (f"{o_p['rot_median_deg']:.1f} -> {o_c['rot_median_deg']:.1f} ({o_p['n']})"
                 if o_p else "-")  # fmt: skip
        print(f"| {c} | {k['n']} / {row['estimates']} | {p['rot_median_deg']:.1f} -> "
              f"**{k['rot_median_deg']:.1f}** | {p['acc_pi_6']:.2f} -> {k['acc_pi_6']:.2f} | "
              f"{p['acc_pi_18']:.2f} -> {k['acc_pi_18']:.2f} | {p['trans_median_cm']:.1f} -> "
              f"**{k['trans_median_cm']:.1f}** | {flips} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="tf_consensus_labels", description=__doc__.split("\n")[0])
    p.add_argument("--bag", action="append", default=None,
                   help="generate-bag recording (repeat; default: data/demo/demo_bag)")
    p.add_argument("--cache", default="out/world_fusion", help="estimates cache folder")
    p.add_argument("--preset", default="default", help="NeMo inference preset")
    p.add_argument("--device", default="cpu")
    p.add_argument("--every", type=int, default=1, help="use every N-th frame")
    p.add_argument("--score-temperature", type=float, default=None,
                   help="override ConsensusConfig.score_temperature (0: equal weights)")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)

    from benchmarks.world_fusion import estimate_bag, load_tf
    from offline_training.bags.tf_consensus import ConsensusConfig
    from ros_pose_estimation.tools.ground_truth import GroundTruth

    config = ConsensusConfig()
    if args.score_temperature is not None:
        config = ConsensusConfig(score_temperature=args.score_temperature)
    results = {}
    for bag in [Path(b) for b in args.bag or [ROOT / "data" / "demo" / "demo_bag"]]:
        if not bag.exists():
            print(f"tf_consensus_labels: error: bag {bag} does not exist (make it with the "
                  "generate-bag command in BENCHMARKS.md)")  # fmt: skip
            return 2
        truth = GroundTruth(bag)
        cache = Path(args.cache) / f"{bag.name}_{args.preset}.npz"
        if cache.is_file():
            est = dict(np.load(cache))
        else:
            est = estimate_bag(bag, sorted({c for c, _, _ in truth.objects}), args.preset,
                               args.device)  # fmt: skip
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **est)
        res = label_bag(est, load_tf(bag), truth, args.every, config)
        print_report(str(bag), res)
        results[bag.name] = res
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
