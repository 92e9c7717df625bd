"""Batch-norm statistics of a model re-estimated on the robot's own recordings (AdaBN).

A look the synthetic training data never had (dim or tinted light, another tone curve, blur,
sensor noise, JPEG) shifts the statistics of every layer's activations, while what the layers
compute stays right. Re-estimating the batch norms' running means and variances on crops of the
target camera's recordings (Li et al., "Revisiting Batch Normalization For Practical Domain
Adaptation", 2016) adapts a model without a label and without a gradient step, so it cannot
learn the recordings' frames or poses, only their look. The model's weights stay as they are.

* :func:`recording_crops`: the crops the estimator itself would feed its network, one per
  detection of every ``every_nth`` frame (boxes and masks as recorded; for CSE the depth
  too), uint8 ``[S x S x 3]``;
* :func:`reestimate_batch_norm`: forward those crops through the feature net with only its
  batch norms in training mode, their statistics accumulated as an equal-weight average over
  every batch (``momentum=None``), then blended with the model's own: ``mix`` of the target's
  (1: AdaBN).

``adapt-bn BAG ... --checkpoint models/cse/mug.pt --out mug_bn.pt`` (:func:`main`) writes the
adapted checkpoint with the same format and meta plus ``bn_adaptation``; a view correction the
checkpoint carries is kept (it corrects the geometry of the views, not their look).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from offline_training.cli_args import (
    device_problem,
    nonneg_int,
    output_problem,
    positive_int,
)
from ros_pose_estimation.core.errors import ConfigError, InputError

__all__ = ["main", "recording_crops", "reestimate_batch_norm"]


def recording_crops(estimator, recordings: Sequence, category: str, every_nth: int = 1
                    ) -> Iterator[np.ndarray]:  # fmt: skip
    """The network input of ``estimator`` (a CSE or NeMo estimator holding ``category``) for
    every detection of ``category`` in every ``every_nth`` frame of ``recordings`` (extracted
    bags, :mod:`offline_training.bags.cache`): uint8 ``[S x S x 3]`` crops. Detections whose
    crop cannot be made (no depth, a box outside the image) are skipped."""
    from ros_pose_estimation.core.errors import EstimationError
    from ros_pose_estimation.core.estimation import Detection

    model = estimator.models[category]
    needs_depth = bool(getattr(estimator, "needs_depth", False))
    for rec in recordings:
        for pos, frame in enumerate(rec.frames(images=True)):
            if pos % every_nth or (needs_depth and frame.depth is None):
                continue
            for obj in frame.objects:
                if obj.category != category:
                    continue
                det = Detection(obj.category, obj.box_xyxy, obj.mask)
                try:
                    if needs_depth:
                        crop = estimator._prepare(frame.rgb, frame.depth, det, frame.intrinsics,
                                                  model)[0]  # fmt: skip
                    else:
                        crop = estimator._crop(frame.rgb, det, frame.intrinsics, model).rgb
                except (EstimationError, InputError):
                    continue
                yield np.asarray(crop)


def _batch_norms(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def reestimate_batch_norm(feature_net: nn.Module, batches: Iterable[torch.Tensor],
                          mix: float = 1.0) -> int:  # fmt: skip
    """Re-estimate the running statistics of every batch norm of ``feature_net`` from
    ``batches`` (``[B x 3 x S x S]`` float in [0, 1], as the net takes them); returns the
    number of images used. The new statistics are ``mix * target + (1 - mix) * model's``;
    every other parameter and buffer is left as it was, and the net is left in eval mode.

    Raises:
        ConfigError: ``mix`` outside (0, 1]. InputError: no batch norm, or no image.
    """
    if not 0.0 < mix <= 1.0:
        raise ConfigError(f"mix must be in (0, 1], got {mix}")
    norms = _batch_norms(feature_net)
    if not norms:
        raise InputError("the feature net has no batch norm to adapt")
    before = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in norms]
    feature_net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative: every batch weighs the same
        m.train()
    n = 0
    try:
        for batch in batches:
            if len(batch) < 2:  # a one-image batch has no spread to measure
                continue
            feature_net(batch)
            n += len(batch)
    finally:
        for m, (mean, var, momentum) in zip(norms, before, strict=True):
            m.eval()
            m.momentum = momentum
            if n == 0:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
            else:
                m.running_mean.mul_(mix).add_((1.0 - mix) * mean)
                m.running_var.mul_(mix).add_((1.0 - mix) * var)
    if n == 0:
        raise InputError("no crop to adapt on (no detection of the category with a usable crop)")
    return n


def _batches(crops: Iterable[np.ndarray], size: int, device: str) -> Iterator[torch.Tensor]:
    chunk: list[np.ndarray] = []
    for crop in crops:
        chunk.append(crop)
        if len(chunk) == size:
            yield _tensor(chunk, device)
            chunk = []
    if chunk:
        yield _tensor(chunk, device)


def _tensor(chunk: list[np.ndarray], device: str) -> torch.Tensor:
    x = torch.from_numpy(np.stack(chunk)).to(device).permute(0, 3, 1, 2).float()
    return x / 255.0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adapt-bn", description=__doc__.split("\n")[0])
    p.add_argument("bags", nargs="+", help="the robot's recordings (rosbag2 folders)")
    p.add_argument("--checkpoint", required=True, help="the model to adapt (CSE or NeMo)")
    p.add_argument("--method", choices=("cse", "nemo"), default="cse")
    p.add_argument("--out", required=True, help="the adapted checkpoint (.pt)")
    p.add_argument("--every-nth", type=positive_int, default=1,
                   help="use every n-th frame (default 1)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--mix", type=float, default=1.0,
                   help="share of the recordings' statistics (1: AdaBN; 0.5: half the model's)")
    p.add_argument("--cache", default="out/cache/adapt_bn", help="extraction cache")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=nonneg_int, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from offline_training.bags.evaluate_bag import make_estimator
    from offline_training.pose_train_stages import extract
    from ros_pose_estimation.core.errors import CheckpointError
    from ros_pose_estimation.tools.bag_errors import BagError

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 2:  # (--every-nth >= 1 is its argparse type's)
        print("adapt-bn: error: --batch-size must be >= 2 (batch statistics)", file=sys.stderr)
        return 2
    problem = device_problem(args.device) or output_problem(args.out, "--out")
    if problem:  # said before the bags are read, not after
        print(f"adapt-bn: error: {problem}", file=sys.stderr)
        return 2
    try:
        estimator = make_estimator(args.method, [args.checkpoint], args.device)
    except (CheckpointError, ConfigError) as exc:
        other = "nemo" if args.method == "cse" else "cse"
        hint = (f" (it is a {dict(cse='CSE', nemo='NeMo')[other]} model: add --method {other})"
                if _loads_as(other, args.checkpoint) else "")  # fmt: skip
        print(f"adapt-bn: error: {exc}{hint}", file=sys.stderr)
        return 2
    (category,) = estimator.categories
    model = estimator.models[category]
    try:
        recs = [r for r, _ in extract(args.bags, Path(args.cache), False,
                                      "rgbd" if args.method == "cse" else "rgb")]  # fmt: skip
        crops = recording_crops(estimator, recs, category, args.every_nth)
        first = next(crops, None)
        if first is None:
            raise InputError(f"the recordings have no {category} detection with a usable crop "
                             f"(is {args.checkpoint} the model of the objects they show?)")
        crops = itertools.chain([first], crops)
        n = reestimate_batch_norm(model.feature_net, _batches(crops, args.batch_size,
                                                              args.device), args.mix)  # fmt: skip
    except (BagError, InputError, ConfigError) as exc:
        print(f"adapt-bn: error: {exc}", file=sys.stderr)
        return 1
    _save(args, model, n)
    print(f"adapt-bn: {category}: batch norms re-estimated on {n} crops of {len(recs)} "
          f"recording(s), mix {args.mix} -> {args.out}")
    return 0


def _loads_as(method: str, path: str) -> bool:
    """Whether ``path`` is a checkpoint of ``method`` (``"cse"`` / ``"nemo"``)."""
    import importlib

    from ros_pose_estimation.core.errors import CheckpointError

    checkpoint = importlib.import_module(f"ros_pose_estimation.{method}.checkpoint")
    try:
        checkpoint.load_checkpoint(path)
    except CheckpointError:
        return False
    return True


def _save(args, model, n: int) -> None:
    """The adapted model in the checkpoint's own format, its meta extended."""
    import importlib

    checkpoint = importlib.import_module(f"ros_pose_estimation.{args.method}.checkpoint")
    note = {"recordings": [str(b) for b in args.bags], "crops": n, "mix": args.mix,
            "every_nth": args.every_nth, "from": str(args.checkpoint)}  # fmt: skip
    _, meta = checkpoint.load_checkpoint(args.checkpoint)
    checkpoint.save_checkpoint(args.out, model, {**meta, "bn_adaptation": note})


if __name__ == "__main__":
    sys.exit(main())
