"""Anchor files: the few annotated objects of NVSM few-shot adaptation (paper 002).

An anchor is one object of one image of the target's training part. Its pose is the only
label the few-shot path uses: read from the BOP ``scene_gt`` (:func:`resolve_anchors`), or
given in the file itself (``R``: 9 numbers row-major, ``t``: 3 numbers in metres, model ->
camera) for images that have no BOP annotation. File (JSON)::

    {"format": "ros_pose_estimation/nvsm-anchors", "version": 1,
     "target": "out/data/mug_target", "split": "train", "seed": 0,
     "anchors": [{"scene_id": 0, "im_id": 12, "gt_index": 1}, ...]}

``gt_index`` is the object's index in the image's ``scene_gt`` list. :func:`pick_anchors` draws
``n`` of them deterministically (seeded, one per image, objects visible enough to be labelled);
the paper picks 7 anchors by hand and draws the rest of its 7 / 20 / 50 annotated images at
random. Picking a file:

    python -m offline_training.adapt.anchors --target out/data/mug_target --n 7 --seed 0 \\
        --out out/runs/mug_anchors_7.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ros_pose_estimation.core.errors import ConfigError, InputError

__all__ = ["FORMAT", "Anchor", "pick_anchors", "read_anchors", "resolve_anchors",
           "write_anchors"]  # fmt: skip

FORMAT, VERSION = "ros_pose_estimation/nvsm-anchors", 1


@dataclass(frozen=True)
class Anchor:
    """One annotated object: where it is, and optionally its pose (``R [3 x 3]``, ``t [3]``
    m; None: read from the BOP ground truth)."""

    scene_id: int
    im_id: int
    gt_index: int
    R: tuple | None = None
    t: tuple | None = None

    @property
    def key(self) -> tuple[int, int, int]:
        return self.scene_id, self.im_id, self.gt_index

    def to_dict(self) -> dict:
        d = {"scene_id": self.scene_id, "im_id": self.im_id, "gt_index": self.gt_index}
        if self.R is not None:
            d.update(R=list(self.R), t=list(self.t))
        return d


def _anchor(row: dict, where: str) -> Anchor:
    try:
        R, t = row.get("R"), row.get("t")
        if (R is None) != (t is None) or (R is not None and (len(R) != 9 or len(t) != 3)):
            raise ValueError("R needs 9 numbers and t 3, both or neither")
        return Anchor(int(row["scene_id"]), int(row["im_id"]), int(row["gt_index"]),
                      None if R is None else tuple(float(v) for v in R),
                      None if t is None else tuple(float(v) for v in t))  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: bad anchor {row}: {exc}") from None


def read_anchors(path: str | Path) -> list[Anchor]:
    """The anchors of the file at ``path`` (module doc).

    Raises:
        ConfigError: not an anchor file, a malformed or repeated anchor, or none at all.
    """
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ConfigError(f"{path} is not an anchor file ({FORMAT} v{VERSION})")
    anchors = [_anchor(row, str(path)) for row in data.get("anchors", [])]
    if not anchors:
        raise ConfigError(f"{path} lists no anchors")
    if len({a.key for a in anchors}) != len(anchors):
        raise ConfigError(f"{path} lists an object twice")
    return anchors


def write_anchors(path: str | Path, anchors: list[Anchor], target: str = "", split: str = "",
                  seed: int | None = None) -> Path:  # fmt: skip
    """Write ``anchors`` to ``path`` (module doc); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "target": str(target), "split": split,
        "seed": seed, "anchors": [a.to_dict() for a in anchors],
    }, indent=1))  # fmt: skip
    return path


def pick_anchors(dataset, n: int, seed: int = 0, categories=None,
                 min_visib: float = 0.3) -> list[Anchor]:  # fmt: skip
    """``n`` anchors drawn with ``seed`` from ``dataset`` (a
    :class:`~offline_training.synthetic.bop_reader.BopDataset`): at most one per image, among
    the objects of ``categories`` (None: all) that adaptation labels (``visib_fract >=
    min_visib``, a visible box). Sorted by (scene, image). The draws of one seed are nested:
    the ``n`` anchors are among the ``n + 1`` ones (7 anchors within the 20 annotated).

    Raises:
        InputError: fewer than ``n`` images with such an object.
    """
    from offline_training.evaluation import select_objects

    if n < 1:
        raise ConfigError(f"need at least one anchor, got n={n}")
    usable = []
    for index in range(len(dataset)):
        sample = dataset[index]
        cats = categories or {o.category for o in sample.objects if o.category}
        keep = select_objects(sample, cats, min_visib, None)
        if keep:
            usable.append((sample.scene_id, sample.im_id, keep))
    if len(usable) < n:
        raise InputError(f"only {len(usable)} images have an object to anchor, {n} wanted")
    picks = np.random.default_rng(seed).permutation(len(usable))[:n]
    anchors = []
    for i in sorted(int(p) for p in picks):
        scene_id, im_id, keep = usable[i]
        pick = np.random.default_rng([seed, i]).integers(len(keep))  # the same for every n
        anchors.append(Anchor(scene_id, im_id, int(keep[int(pick)])))
    return anchors


def resolve_anchors(anchors: list[Anchor], ground_truth: Mapping[tuple, tuple]) -> dict:
    """``{(scene, image, gt_index): (R [3 x 3], t [3] m)}``: each anchor's pose, from the
    file or else from ``ground_truth`` (the same keys -> the BOP annotation's ``(R, t)``; the
    only ground truth the few-shot path reads).

    Raises:
        InputError: an anchor without a pose in the file that is not in ``ground_truth``.
    """
    poses = {}
    for a in anchors:
        if a.R is not None:
            poses[a.key] = (np.array(a.R, dtype=np.float64).reshape(3, 3),
                            np.array(a.t, dtype=np.float64))  # fmt: skip
        elif a.key in ground_truth and ground_truth[a.key][0] is not None:
            R, t = ground_truth[a.key]
            poses[a.key] = (np.asarray(R, dtype=np.float64), np.asarray(t, dtype=np.float64))
        else:
            raise InputError(f"anchor (scene {a.scene_id}, image {a.im_id}, object "
                             f"{a.gt_index}) is not a labelled object of the target")  # fmt: skip
    return poses


def main(argv: list[str] | None = None) -> int:
    """Pick anchors and write the file (module doc); returns the exit code."""
    p = argparse.ArgumentParser(prog="nvsm-anchors", description=__doc__.split("\n")[0])
    p.add_argument("--target", required=True, help="BOP root of the target's training part")
    p.add_argument("--split", default="train")
    p.add_argument("--n", type=int, default=7, help="anchors to draw (default 7)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--category", action="append", help="only objects of this category")
    p.add_argument("--min-visib", type=float, default=0.3)
    p.add_argument("--out", required=True, help="anchor file to write")
    args = p.parse_args(argv)
    from offline_training.synthetic.bop_reader import BopDataset

    try:
        dataset = BopDataset(args.target, args.split, load_masks=False)
        anchors = pick_anchors(dataset, args.n, args.seed, args.category, args.min_visib)
    except (ConfigError, InputError) as exc:
        print(f"nvsm-anchors: error: {exc}", file=sys.stderr)
        return 2
    write_anchors(args.out, anchors, args.target, args.split, args.seed)
    print(f"{len(anchors)} anchors -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
