"""``adapt-nemo``: adapt a NeMo checkpoint to an unlabeled target domain (issue #16).

    adapt-nemo --method cc3d --checkpoint models/nemo/mug.pt --target out/data/mug_target \\
        --heldout out/data/mug_target_heldout --out out/runs/mug_cc3d [--rounds 2] \\
        [--top-k 100] [--steps 200] [--domain-weight 1.0] [--eval-max-objects 100]
    adapt-nemo --method supervised ...   # the upper bound: the target's ground truth
    adapt-nemo --method nvsm --anchors out/runs/mug_anchors_7.json ... [--threshold 0.8] \\
        [--radius 30] [--top-k 100] [--expansions 1] [--no-refine]   # few-shot: 7 annotated
    adapt-nemo --method tf-consensus --target out/data/mug_target_seq --views-per-layout 10 ...
    adapt-nemo --method combined --views-per-layout 10 [--top-k 100] ...  # consensus + CC3D

Methods: ``cc3d`` (paper 001 pseudo-labels, :mod:`.cc3d`), ``nvsm`` (paper 002 few-shot:
pseudo-labels matched to views synthesized from annotated anchors, :mod:`.nvsm`; anchor files:
:mod:`.anchors`), ``tf-consensus`` (RGB only: per-track consensus of the per-frame estimates in
the world through the camera poses, carried back to every frame, :mod:`.tf_consensus`; the
target holds sequences of ``--views-per-layout`` images with camera poses), ``combined``
(consensus labels where a track agrees, CC3D's top-k elsewhere, CC3D's loss, :mod:`.combined`)
and ``supervised`` (upper bound, :mod:`.supervised`); all run the shared loop
of :mod:`.loop` and write ``OUT/report.json``
(rounds, labels kept, label accuracy vs ground truth, held-out accuracy, wall time). Started
again with the same arguments the run resumes: finished rounds are not redone.

Exit codes: 0 success, 1 runtime failure (nothing to label or evaluate), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from offline_training.cli_args import nonneg_float, positive_int

METHODS = ("cc3d", "nvsm", "tf-consensus", "combined", "supervised")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adapt-nemo", description=__doc__.split("\n")[0])
    p.add_argument("--method", choices=METHODS, default="cc3d")
    p.add_argument("--checkpoint", required=True, help="starting NeMo checkpoint (the 'before')")
    p.add_argument("--target", required=True, help="BOP root of the target's training part")
    p.add_argument("--target-split", default="train")
    p.add_argument("--heldout", required=True, help="BOP root of the held-out target part")
    p.add_argument("--heldout-split", default="test")
    p.add_argument("--out", required=True, help="run folder (resumed when it holds this run)")
    p.add_argument("--rounds", type=int, default=2, help="EM rounds (default 2)")
    p.add_argument("--top-k", type=int, default=100,
                   help="cc3d / combined: labels kept per category; nvsm: most pseudo-labels "
                   "per round")
    p.add_argument("--anchors", help="nvsm: anchor file (python -m offline_training.adapt."
                   "anchors writes one)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.8,
                   help="nvsm: similarity a match needs to be kept (default 0.8)")  # fmt: skip
    p.add_argument("--radius", type=float, default=30.0,
                   help="nvsm: largest pose shift from a source (deg, default 30)")  # fmt: skip
    p.add_argument("--expansions", type=int, default=1,
                   help="nvsm: matching passes per round before training (default 1)")  # fmt: skip
    p.add_argument("--no-refine", dest="refine", action="store_false",
                   help="nvsm: keep the matched poses (no refinement)")  # fmt: skip
    p.add_argument("--views-per-layout", type=int, default=None, metavar="N",
                   help="tf-consensus / combined: images per sequence of the target (the data "
                   "engine's --views-per-layout; required for those methods)")
    p.add_argument("--max-label-objects", type=int, default=None,
                   help="cc3d: estimate at most this many target objects per round")
    p.add_argument("--preset", default="default", help="inference preset (labels and eval)")
    p.add_argument("--eval-max-objects", type=int, default=100,
                   help="held-out objects evaluated per checkpoint (default 100)")
    p.add_argument("--steps", type=positive_int, default=200, help="fine-tuning steps per round")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=nonneg_float, default=1e-4)
    p.add_argument("--domain-weight", type=float, default=1.0,
                   help="alpha of paper 001 Eq. 5 on the pseudo-labelled crops (0: off)")
    p.add_argument("--freeze-bn", action="store_true",
                   help="keep the backbone's batch-norm statistics while fine-tuning")  # fmt: skip
    p.add_argument("--replay-data", default=None, metavar="DIR",
                   help="labelled source data (split train; e.g. the synthetic set the "
                   "--checkpoint was trained on) replayed in every fine-tuning batch")
    p.add_argument("--replay-fraction", type=float, default=0.5, metavar="F",
                   help="share of the fine-tuning items drawn from --replay-data (0.5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--device", default="cpu")
    return p


def settings(args) -> dict:
    """What defines a run (stored in the report; a resume must match)."""
    keys = ("method", "checkpoint", "target", "target_split", "heldout", "heldout_split",
            "top_k", "max_label_objects", "preset", "eval_max_objects", "steps", "batch_size",
            "lr", "domain_weight", "seed", "device")  # fmt: skip
    s = {k: getattr(args, k) for k in keys}
    if args.method == "supervised":
        for key in ("top_k", "max_label_objects", "domain_weight"):  # cc3d-only
            s.pop(key)
    if args.freeze_bn:  # only when set: reports written before the option still resume
        s["freeze_bn"] = True
    if args.replay_data:  # only when set, as freeze_bn
        s.update(replay_data=args.replay_data, replay_fraction=args.replay_fraction)
    if args.method == "tf-consensus":
        s.pop("top_k")
        s.pop("domain_weight")  # the contrastive loss only, as nvsm
    if args.method in ("tf-consensus", "combined"):
        s["views_per_layout"] = args.views_per_layout
    if args.method == "nvsm":
        s.pop("max_label_objects")
        s.pop("domain_weight")  # paper 002's M-step: the contrastive loss only
        digest = hashlib.sha256(Path(args.anchors).read_bytes()).hexdigest()[:16]
        s.update(anchors=args.anchors, anchors_sha256=digest, threshold=args.threshold,
                 radius_deg=args.radius, refine=args.refine)  # fmt: skip
        if args.expansions != 1:  # only when set: earlier nvsm reports still resume
            s["expansions"] = args.expansions
    return s


def run(args) -> dict:
    """The whole adaptation (module doc); returns the report."""
    import torch

    from offline_training.adapt.cc3d import CC3DPath
    from offline_training.adapt.combined import CombinedPath
    from offline_training.adapt.finetune import FineTune, heldout_accuracy
    from offline_training.adapt.loop import run_adaptation
    from offline_training.adapt.nvsm import NVSMPath
    from offline_training.adapt.supervised import SupervisedPath
    from offline_training.adapt.tf_consensus import TFConsensusPath
    from ros_pose_estimation.nemo.checkpoint import read_checkpoint

    torch.set_num_threads(args.threads)
    category = str(read_checkpoint(args.checkpoint)["category"])
    if args.method == "cc3d":
        path = CC3DPath(args.target, args.target_split, args.top_k, args.preset,
                        args.max_label_objects, device=args.device)  # fmt: skip
    elif args.method == "nvsm":
        path = NVSMPath(args.target, args.anchors, args.target_split, args.threshold,
                        args.top_k, args.radius, refine=args.refine,
                        expansions=args.expansions, preset=args.preset,
                        device=args.device)  # fmt: skip
    elif args.method in ("tf-consensus", "combined"):
        path = TFConsensusPath(args.target, args.target_split, args.views_per_layout,
                               args.preset, args.max_label_objects, device=args.device)
        if args.method == "combined":
            path = CombinedPath(path, args.top_k)
    else:
        path = SupervisedPath(args.target, args.target_split)
    tune = FineTune(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                    domain_weight=(args.domain_weight if args.method in ("cc3d", "combined")
                                   else 0.0),
                    freeze_backbone_bn=args.freeze_bn, replay_data=args.replay_data,
                    replay_fraction=args.replay_fraction, seed=args.seed, num_threads=args.threads,
                    device=args.device)  # fmt: skip

    def evaluate(checkpoint: Path) -> dict:
        return heldout_accuracy(checkpoint, args.heldout, args.heldout_split, args.preset,
                                args.eval_max_objects, device=args.device)  # fmt: skip

    def log(msg: str) -> None:
        print(f"adapt-nemo: {msg}", file=sys.stderr, flush=True)

    return run_adaptation(
        path, args.out, args.checkpoint, args.rounds,
        lambda ckpt, labels, out: tune.run(ckpt, labels.data, out, labels.split),
        evaluate, category, settings(args), log,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """``adapt-nemo``; returns the exit code."""
    args = parser().parse_args(argv)
    from offline_training.bop_objects import NoSamplesError
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError, InputError

    if args.method == "nvsm" and not args.anchors:
        print("adapt-nemo: error: --method nvsm needs --anchors FILE", file=sys.stderr)
        return 2
    if args.method in ("tf-consensus", "combined") and (args.views_per_layout or 0) < 1:
        print(f"adapt-nemo: error: --method {args.method} needs --views-per-layout N >= 1 (images "
              "per sequence of the target)", file=sys.stderr)  # fmt: skip
        return 2
    optional = (("anchors",) if args.anchors else ()) + (
        ("replay_data",) if args.replay_data else ())
    for name in ("checkpoint", "target", "heldout", *optional):
        if not Path(getattr(args, name)).exists():
            print(f"adapt-nemo: error: --{name.replace('_', '-')} {getattr(args, name)} does "
                  "not exist",
                  file=sys.stderr)  # fmt: skip
            return 2
    try:
        report = run(args)
    except (ConfigError, CheckpointError) as exc:
        print(f"adapt-nemo: error: {exc}", file=sys.stderr)
        return 2
    except (InputError, NoSamplesError) as exc:
        print(f"adapt-nemo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("adapt-nemo: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    b = report["before"]["heldout"]
    print(f"{report['method']} {report['category']}: before Acc@pi/6 {b['acc_pi_6']:.3f}, "
          f"median {b['median_rot_deg']:.1f} deg")  # fmt: skip
    for r in report["rounds"]:
        h, lab = r["heldout"], r["labels"]
        acc = lab.get("accuracy_kept") or {}
        print(f"round {r['round']}: kept {lab['kept']}"
              + (f" (label Acc@pi/6 {acc['acc_pi_6']:.3f})" if acc else "")
              + f"; held-out Acc@pi/6 {h['acc_pi_6']:.3f}, median {h['median_rot_deg']:.1f} "
              f"deg; {r['seconds']['total']:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
