"""World-frame fusion on recorded bags: per-frame vs fused pose error, and its cost per frame.

    python -m benchmarks.world_fusion [--bag data/demo/demo_bag] [--bag BAG2 ...] \\
        [--cache out/world_fusion] [--preset default] [--threads 1] [--every 1] [--gravity] \\
        [--set NAME=VALUE ...] [--json F]

Per bag (a recording made by ``generate-bag``, with ``ground_truth.json``):

1. **Estimates** (cached in ``<cache>/<bag>_<preset>.npz``, reused when present): every
   synchronised frame's detections estimated by the bundled RGB models (``models/nemo/<c>.pt``)
   through :class:`~ros_pose_estimation.pipeline.pose_pipeline.PosePipeline`, as the node does.
2. **Per frame** (``--every N``: every N-th frame, as a node that keeps up with 1/N of the
   frames): the track filter (``config/pose.yaml``'s ``tracking.*``) gives track ids and the
   node's per-frame output; the camera pose ``T_fixed_cam`` comes from the bag's ``/tf`` through
   :class:`~ros_pose_estimation.core.tf_buffer.TFBuffer` at the image stamp (fixed frame: the
   recording's world); :class:`~ros_pose_estimation.pipeline.world_fusion.WorldFusion`
   (defaults, or ``--set`` settings) fuses. ``--gravity``: the estimates get the world's up
   from /tf, as in the node with ``fixed_frame`` set (cached separately).
3. **Scores** every pose against the ground truth as the demo does (symmetry-aware rotation
   error, centre distance; fused poses expressed back in the camera frame): per category the
   median errors of the raw estimates, of the tracked per-frame output and of the fused output.
   The ``all`` row pools the categories. **Cost**: wall time of ``WorldFusion.update`` per
   frame and of the TF lookup (ms); the replay runs ``--timing-runs`` times and each frame
   keeps its fastest run (the machine's other load only ever adds time).

Prints the device and the table; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOPICS = {
    "/camera/color/image_raw": "image",
    "/camera/color/camera_info": "camera_info",
    "/detections": "detections",
}
DEPTH_TOPIC = "/camera/aligned_depth/image_raw"


def estimate_bag(bag: Path, categories: list[str], preset: str, device: str,
                 gravity: tuple | None = None, method: str = "nemo") -> dict:
    """Run the bundled models (``models/<method>/<c>.pt``; ``cse``: with the bag's aligned
    depth) on every frame of ``bag``; arrays per estimate: ``stamp``, ``category``,
    ``R [N x 3 x 3]``, ``t [N x 3]``, ``size``, ``score``, and ``frames`` (every frame's stamp,
    also those without estimates). ``gravity``: ``(tf, up_frame, camera_frame)``: each frame
    gets the world's up (+z of ``up_frame`` in the camera at the image stamp), as the node does
    with ``fixed_frame`` or ``up_frame`` set."""
    from sensor_msgs.msg import CameraInfo, Image
    from vision_msgs.msg import Detection2DArray

    from ros_pose_estimation import conversions as conv
    from ros_pose_estimation.core.standing import up_in_camera
    from ros_pose_estimation.node.frames import ObjectSource, decode_frame
    from ros_pose_estimation.pipeline.estimators import ModelSpec, load_estimators
    from ros_pose_estimation.pipeline.pose_pipeline import PosePipeline
    from ros_pose_estimation.tools.bag_reader import messages_by_stamp

    classes = {"image": Image, "camera_info": CameraInfo, "detections": Detection2DArray,
               "depth": Image}  # fmt: skip
    topics = {**TOPICS, **({DEPTH_TOPIC: "depth"} if method == "cse" else {})}
    by_stamp = messages_by_stamp(bag, {t: (k, classes[k]) for t, k in topics.items()})
    specs = [ModelSpec(c, str(ROOT / "models" / method / f"{c}.pt"), method=method)
             for c in categories]  # fmt: skip
    pipeline = PosePipeline(load_estimators(specs, device, preset))
    source = ObjectSource({c: c for c in categories})
    rows: dict[str, list] = {k: [] for k in ("stamp", "category", "R", "t", "size", "score")}
    frames = []
    for i, stamp in enumerate(sorted(by_stamp)):
        msgs = by_stamp[stamp]
        if len(msgs) < len(topics):
            continue
        info = conv.intrinsics_from_camera_info(msgs["camera_info"])
        frame = decode_frame(msgs["image"], msgs["detections"], msgs.get("depth"), info, source)
        up = None
        if gravity is not None:
            tf, up_frame, camera_frame = gravity
            up = up_in_camera(tf.lookup(up_frame, camera_frame, stamp))
        result = pipeline.process(frame.rgb, frame.detections, info, stamp, frame.depth, up=up)
        frames.append(stamp)
        for est in result.estimates:
            for key, value in (
                ("stamp", stamp),
                ("category", est.category),
                ("R", est.R),
                ("t", est.t),
                ("size", est.size),
                ("score", est.score),
            ):
                rows[key].append(value)  # fmt: skip
        print(f"  frame {i + 1}/{len(by_stamp)}: {len(result.estimates)} estimates, "
              f"{result.timings['estimate']:.0f} ms", flush=True)  # fmt: skip
    out = {k: np.asarray(v) for k, v in rows.items()}
    out["frames"] = np.asarray(frames, dtype=np.int64)
    return out


def load_tf(bag: Path):
    """The bag's ``/tf`` and ``/tf_static`` in a :class:`TFBuffer`."""
    from ros_pose_estimation.core.tf_buffer import TFBuffer
    from ros_pose_estimation.tools.bag_reader import BagReader

    tf = TFBuffer()
    with BagReader(bag) as reader:
        for topic, _, msg in reader.messages(["/tf", "/tf_static"], deserialize=True):
            tf.add_message(msg, static=topic == "/tf_static")
    return tf


class _Estimate:
    def __init__(self, category, R, t, size, score) -> None:
        self.category, self.R, self.t, self.size, self.score = category, R, t, size, score


def frame_estimates(est: dict, stamp: int) -> list:
    """The cached estimates (:func:`estimate_bag`'s arrays) of the frame at ``stamp``, as
    objects with ``category``, ``R``, ``t``, ``size`` and ``score`` (what the track filter
    reads)."""
    return [_Estimate(str(est["category"][i]), est["R"][i], est["t"][i], est["size"][i],
                      float(est["score"][i])) for i in np.flatnonzero(est["stamp"] == stamp)]


def file_tracking_config(params: Path):
    """The :class:`TrackFilterConfig` of a node parameters file's ``tracking.*``."""
    import yaml

    from ros_pose_estimation.node.params import flat_parameters, parameter_reader
    from ros_pose_estimation.node.pipeline_factory import tracking_config

    values = yaml.safe_load(Path(params).read_text())["/**"]["ros__parameters"]
    return tracking_config(parameter_reader(flat_parameters(values)))


def replay(est: dict, tf, truth, every: int, config=None) -> dict:
    """Track, fuse and score the cached estimates (module docstring, steps 2 and 3);
    ``config``: a :class:`WorldFusionConfig` (None: defaults)."""
    from ros_pose_estimation.pipeline.tracking import TrackFilter
    from ros_pose_estimation.pipeline.world_fusion import WorldFusion, in_frame

    tracker = TrackFilter(file_tracking_config(ROOT / "config" / "pose.yaml"))
    fusion = WorldFusion(config)
    errors: dict[str, dict[str, list]] = {}
    fuse_ms, tf_ms, statuses = [], [], {}
    for stamp in [int(s) for s in est["frames"]][::every]:
        estimates = frame_estimates(est, stamp)
        poses = tracker.update(stamp, estimates)
        start = time.perf_counter()
        T = tf.lookup(truth.world_frame, truth.frame_id, stamp)
        looked = time.perf_counter()
        fused = fusion.update(stamp, T, poses, {t.track_id for t in tracker.tracks})
        fuse_ms.append(1e3 * (time.perf_counter() - looked))
        tf_ms.append(1e3 * (looked - start))
        in_camera = in_frame(fused, np.linalg.inv(T))
        for e, p, f in zip(estimates, poses, in_camera, strict=True):
            statuses[f.status] = statuses.get(f.status, 0) + 1
            for kind, pose in (("raw", e), ("tracked", p), ("fused", f)):
                m = truth.match(stamp, e.category, pose.R, pose.t)
                if m is not None:
                    for key in (e.category, "all"):
                        rows = errors.setdefault(key, {}).setdefault(kind, [])
                        rows.append((m.rotation_error_deg, m.translation_error_m))
    table = {}
    for category, kinds in sorted(errors.items()):
        table[category] = {"estimates": len(kinds["raw"])}
        for kind, rows in kinds.items():
            arr = np.asarray(rows)
            table[category][kind] = {
                "rot_deg": float(np.median(arr[:, 0])),
                "trans_cm": float(100 * np.median(arr[:, 1])),
                "within_10deg": float(np.mean(arr[:, 0] <= 10.0)),
            }
    return {"categories": table, "statuses": statuses, "frames": len(fuse_ms),
            "fuse_ms_per_frame": fuse_ms, "tf_ms_per_frame": tf_ms,
            "mean_objects": float(np.mean([len(np.flatnonzero(est["stamp"] == s))
                                               for s in est["frames"][::every]]))}  # fmt: skip


def timing(runs: list[dict]) -> dict:
    """Per frame the fastest of ``runs`` (replays of the same frames), summarised (ms)."""
    ms = np.min([r["fuse_ms_per_frame"] for r in runs], axis=0)
    tf = np.min([r["tf_ms_per_frame"] for r in runs], axis=0)
    return {"median": float(np.median(ms)), "p90": float(np.percentile(ms, 90)),
            "max": float(ms.max()), "tf_lookup_median": float(np.median(tf))}  # fmt: skip


def print_report(name: str, every: int, res: dict) -> None:
    print(f"\n{name} (every {every}. frame, {res['frames']} frames; statuses {res['statuses']})")
    print("| category | estimates | rotation raw / tracked / fused (deg) | "
          "centre raw / tracked / fused (cm) | <= 10 deg raw / fused |")  # fmt: skip
    print("|---|---|---|---|---|")
    for category, row in res["categories"].items():
        r, t, f = row["raw"], row["tracked"], row["fused"]
        print(
            f"| {category} | {row['estimates']} | {r['rot_deg']:.1f} / {t['rot_deg']:.1f} / "
            f"**{f['rot_deg']:.1f}** | {r['trans_cm']:.1f} / {t['trans_cm']:.1f} / "
            f"**{f['trans_cm']:.1f}** | {r['within_10deg']:.2f} / {f['within_10deg']:.2f} |"
        )
    fm = res["fuse_ms"]
    print(f"fusion ({res['mean_objects']:.1f} objects/frame): {fm['median']:.2f} ms/frame "
          f"median, p90 {fm['p90']:.2f}, max {fm['max']:.2f}; TF lookup "
          f"{fm['tf_lookup_median']:.3f} ms median")  # fmt: skip


def fusion_config(settings: list[str]):
    """A :class:`WorldFusionConfig` with ``NAME=VALUE`` ``settings`` over the defaults."""
    from dataclasses import fields, replace

    from ros_pose_estimation.pipeline.fusion_config import WorldFusionConfig

    types = {f.name: type(f.default) for f in fields(WorldFusionConfig)}
    values = {}
    for item in settings:
        name, _, value = item.partition("=")
        if name not in types or not value:
            raise SystemExit(f"world_fusion: --set {item!r}: expected NAME=VALUE with NAME one "
                             f"of {', '.join(types)}")  # fmt: skip
        values[name] = types[name](value)
    return replace(WorldFusionConfig(), **values).validate()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="world_fusion", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--bag",
        action="append",
        default=None,
        help="generate-bag recording (repeat; default: data/demo/demo_bag)",
    )
    p.add_argument("--cache", default="out/world_fusion", help="estimates cache folder")
    p.add_argument("--preset", default="default", help="NeMo inference preset")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--every",
        type=int,
        action="append",
        default=None,
        help="use every N-th frame (repeat for several; default 1)",
    )
    p.add_argument(
        "--timing-runs",
        type=int,
        default=3,
        help="replays per bag; each frame's cost is its fastest (default 3)",
    )
    p.add_argument("--gravity", action="store_true",
                   help="estimate with the world's up from the bag's /tf, as the node does "
                   "with fixed_frame set (default: without)")  # fmt: skip
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a WorldFusionConfig setting (repeat; e.g. score_temperature=0.01)")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)  # fmt: skip
    config = fusion_config(args.set)
    import torch

    from benchmarks.device_info import describe
    from ros_pose_estimation.tools.ground_truth import GroundTruth

    torch.set_num_threads(args.threads)
    print(describe(args.device))
    results = {}
    for bag in [Path(b) for b in args.bag or [ROOT / "data" / "demo" / "demo_bag"]]:
        truth = GroundTruth(bag)
        tag = "_gravity" if args.gravity else ""
        cache = Path(args.cache) / f"{bag.name}_{args.preset}{tag}.npz"
        tf = load_tf(bag)
        if cache.is_file():
            est = dict(np.load(cache))
        else:
            categories = sorted({c for c, _, _ in truth.objects})
            print(f"{bag}: estimating {categories} ({args.preset}) ...", flush=True)
            gravity = (tf, truth.world_frame, truth.frame_id) if args.gravity else None
            est = estimate_bag(bag, categories, args.preset, args.device, gravity)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **est)
        for every in args.every or [1]:
            runs = [replay(est, tf, truth, every, config)
                    for _ in range(max(args.timing_runs, 1))]  # fmt: skip
            res = {k: v for k, v in runs[0].items() if not k.endswith("_per_frame")}
            res["fuse_ms"] = timing(runs)
            print_report(str(bag), every, res)
            results[f"{bag.name}/every{every}"] = res
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
