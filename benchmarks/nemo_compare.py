"""Several NeMo models and presets on the same objects, interleaved image by image in one run.

    python -m benchmarks.nemo_compare --data out/data/mug_ood --split test --max-objects 200 \\
        --run lite0=out/runs/mug_lite0/mug.pt:default \\
        --run lite0_ref=out/runs/mug_lite0/mug.pt:reference \\
        --run bundled_small=models/nemo/mug.pt:default --threads 1 --json out/compare.json

Each ``--run NAME=CHECKPOINT[:PRESET]`` (preset default, fast or reference; default
``default``; with ``-raw`` appended, e.g. ``default-raw``, without the checkpoint's view
correction; with ``-fixprop``, a per-axis-scaled model keeps its category mesh's proportions,
``InferenceConfig.refine_proportions`` off; with ``-priorW``, e.g. ``-prior0.05``, its
proportions are refined under ``InferenceConfig.proportion_prior`` W; with ``-gravity``, given
the world's up from the images' camera poses, as the node gets it from /tf (a rolled camera
turned upright by it, objects stood upright on it); with ``-nostand``, without
``InferenceConfig.stand_upright``; with ``-fullres``, a model finer than stride 8 searches at
its own stride, ``InferenceConfig.coarse_stride`` 0; any of them may be appended) is one
estimator; every selected object of an image goes to every estimator in turn
(``offline_training.nemo.evaluate.evaluate``: same objects, same machine load, first image
untimed), so accuracy *and* latency per object compare across checkpoints, e.g. a new model
against the bundled one, or the snapshots ``step_N.pt`` of a training run (a learning curve:
``--curve RUN_DIR`` adds every ``step_*.pt`` and the final ``<category>.pt`` of that folder
with the default preset). The summary table gives per run Acc@pi/6, Acc@pi/18, median rotation
(deg) and translation (cm) error and the latency per object (ms, median and p90); the JSON
adds the training step and wall seconds each checkpoint records (``meta.step``,
``meta.seconds``), so curves can be drawn against training time. Prints the device.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.device_info import describe

#: A preset name with this suffix runs without the checkpoint's view correction.
RAW = "-raw"
#: ... and with this one, a per-axis-scaled model keeps the category mesh's proportions.
FIXPROP = "-fixprop"
#: ... and with this one, the estimator is not asked to stand objects upright under gravity.
NOSTAND = "-nostand"
#: ... and with this one, the estimator gets the world's up from the images' camera poses.
GRAVITY = "-gravity"
#: ... and with this one, a model of a finer stride searches at its own (no coarse search).
FULLRES = "-fullres"
_SUFFIXES = {RAW: {"view_correction": False}, FIXPROP: {"refine_proportions": False},
             NOSTAND: {"stand_upright": False}, FULLRES: {"coarse_stride": 0}}  # fmt: skip


#: ... and with this one and a number, e.g. ``-prior0.05``, that proportion prior.
PRIOR = re.compile(r"-prior([0-9]*\.?[0-9]+)$")


def _split_preset(preset: str) -> tuple[str, dict, bool]:
    """``PRESET[-raw][-fixprop][-nostand][-gravity][-priorW]`` (suffixes in any order) -> the
    preset name, the :class:`InferenceConfig` fields its suffixes change, and whether it asks
    for gravity (``-gravity``: an input of the run, no config field)."""
    changes: dict = {}
    gravity, found = False, True
    while found:
        found = False
        for suffix, fields in _SUFFIXES.items():
            if preset.endswith(suffix):
                preset, found = preset.removesuffix(suffix), True
                changes.update(fields)
        if preset.endswith(GRAVITY):
            preset, found, gravity = preset.removesuffix(GRAVITY), True, True
        if match := PRIOR.search(preset):
            preset, found = preset[: match.start()], True
            changes["proportion_prior"] = float(match.group(1))
    return preset, changes, gravity


def wants_gravity(preset: str) -> bool:
    """Whether a run's preset carries the ``-gravity`` suffix (anywhere among its suffixes)."""
    return _split_preset(preset)[2]


def parse_run(text: str) -> tuple[str, str, str]:
    """``NAME=CHECKPOINT[:PRESET]`` -> (name, checkpoint, preset); ``PRESET`` may end in
    ``-raw`` (e.g. ``default-raw``): that preset without the view correction, in
    ``-fixprop``: with the category mesh's proportions, and in ``-priorW``: with that
    proportion prior."""
    from ros_pose_estimation.nemo.presets import PRESETS

    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise argparse.ArgumentTypeError(f"expected NAME=CHECKPOINT[:PRESET], got {text!r}")
    path, _, preset = rest.rpartition(":")
    if not path or _split_preset(preset)[0] not in PRESETS:
        path, preset = rest, "default"
    return name, path, preset


def preset_config(preset: str):
    """The :class:`InferenceConfig` of a run's preset (``-raw``: view correction off;
    ``-fixprop``: proportions not refined)."""
    from ros_pose_estimation.nemo.presets import InferenceConfig

    name, changes, _ = _split_preset(preset)
    config = InferenceConfig.named(name)
    return config.replace(**changes) if changes else config


def curve_runs(run_dir: str | Path) -> list[tuple[str, str, str]]:
    """The snapshots ``step_N.pt`` of a training folder by step, then its final checkpoint."""
    run_dir = Path(run_dir)
    snaps = sorted(run_dir.glob("step_*.pt"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))
    finals = [p for p in run_dir.glob("*.pt") if p.stem not in ("last", "resume")
              and not p.stem.startswith("step_")]  # fmt: skip
    tag = run_dir.name
    return [(f"{tag}@{p.stem.removeprefix('step_')}", str(p), "default") for p in snaps] + [
        (f"{tag}@final", str(p), "default") for p in finals
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.nemo_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="BOP dataset root")
    p.add_argument("--split", default="test")
    p.add_argument("--run", action="append", type=parse_run, default=[],
                   metavar="NAME=CKPT[:PRESET]", help="an estimator to compare; repeat")
    p.add_argument("--curve", action="append", default=[], metavar="RUN_DIR",
                   help="add the step_*.pt snapshots and final model of a training folder")
    p.add_argument("--max-objects", type=int, default=None)
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)  # fmt: skip

    import torch

    from offline_training.nemo.evaluate import evaluate, format_summary, summarize
    from offline_training.synthetic.bop_reader import BopDataset
    from ros_pose_estimation.core.errors import PoseEstimationError
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.estimator import NemoEstimator

    torch.set_num_threads(args.threads)
    runs = list(args.run)
    for folder in args.curve:
        runs += curve_runs(folder)
    if not runs:
        p.error("give at least one --run or --curve")
    names = [r[0] for r in runs]
    if len(set(names)) != len(names):
        p.error(f"run names must be unique, got {names}")
    try:
        dataset = BopDataset(args.data, args.split, load_masks=False)
        estimators, info = {}, {}
        for name, path, preset in runs:
            model, meta = load_checkpoint(path)
            estimators[name] = NemoEstimator({model.category: model.to(args.device)},
                                             preset_config(preset), args.device)
            info[name] = {"checkpoint": path, "preset": preset, "category": model.category,
                          "gravity": wants_gravity(preset),
                          "backbone": model.config.backbone, "step": meta.get("step"),
                          "train_seconds": meta.get("seconds")}  # fmt: skip
    except (FileNotFoundError, PoseEstimationError) as exc:
        print(f"nemo_compare: error: {exc}", file=sys.stderr)
        return 2
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr))
    with_up = [name for name, _, preset in runs if wants_gravity(preset)]
    results = evaluate(dataset, estimators, args.min_visib, args.max_objects, False, log,
                       gravity=with_up)  # fmt: skip
    if not results:
        print(f"nemo_compare: no object to evaluate in {args.data}/{args.split}", file=sys.stderr)
        return 1
    device = describe(args.device)
    summary = summarize(results)
    print(format_summary(summary, device))
    print(f"{'run':24s} {'step':>6s} {'train s':>8s}  checkpoint")
    for name, meta in info.items():
        seconds = meta["train_seconds"]
        print(f"{name:24s} {meta['step'] or 0:6d} {seconds or 0:8.0f}  {meta['checkpoint']}")
    if args.json:
        payload = {"device": device, "data": str(Path(args.data).resolve()),
                   "split": args.split, "runs": info, "summary": summary,
                   "objects": [asdict(r) for r in results]}  # fmt: skip
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
