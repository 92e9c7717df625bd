"""Write the ControlNet-enhanced copy of a BOP dataset (``enhance-dataset``; paper 001 Sec. 3.1).

The output is a BOP dataset (:mod:`offline_training.synthetic.bop`) beside the source, with
the source's labels and only the RGB replaced::

    OUT/models/                         copied (or hard-linked) from the source
    OUT/<root files>                    copied (or hard-linked)
    OUT/SPLIT/000000/rgb/000000.png     the enhanced image (same name and size as the source's)
    OUT/SPLIT/000000/{depth,mask,mask_visib,...}/000000*   copied (or hard-linked), unchanged
    OUT/SPLIT/000000/scene_{camera,gt,gt_info}.json        the source's entries of the images
                                                           done (a byte copy once all are)
    OUT/enhance_info.json               source, settings and weights per split

Images are enhanced in BOP order; ``max_images`` N stops after the split's first N images. An
image counts as done when its output RGB exists (written atomically, after its label files), so
a run that is interrupted or limited resumes where it stopped, and the scene JSON files always
list exactly the images done: the output is a valid BOP dataset at any time. A resumed run must
use the settings recorded in ``enhance_info.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from offline_training.diffusion.controlnet import EnhanceSettings, image_prompt, image_seed
from offline_training.synthetic.bop_reader import BopDataset
from ros_pose_estimation.core.errors import ConfigError

__all__ = ["EnhanceSummary", "Enhancer", "default_out", "enhance_dataset"]

INFO_FILE = "enhance_info.json"
_LABELS = ("scene_camera", "scene_gt", "scene_gt_info")
_IMAGE_DIRS = ("rgb", "gray")


class Enhancer(Protocol):
    """What :func:`enhance_dataset` calls (:class:`~.controlnet.ControlNetEnhancer`)."""

    settings: EnhanceSettings

    def enhance(self, rgbs: list, prompts: list, seeds: list) -> list[np.ndarray]: ...


@dataclass
class EnhanceSummary:
    out: Path
    written: int = 0  # enhanced in this run
    skipped: int = 0  # already in OUT
    total: int = 0  # images of the split (within max_images)
    seconds: float = 0.0

    def __str__(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        return (f"enhanced {self.written} images ({rate:.3f} images/s), {self.skipped} already "
                f"done, {self.written + self.skipped}/{self.total} in {self.out}")  # fmt: skip


def default_out(root: str | os.PathLike) -> Path:
    """``<root>_enhanced`` beside the source dataset."""
    root = Path(root).resolve()
    return root.with_name(root.name + "_enhanced")


def _place(src: Path, dst: Path, link: bool) -> None:
    """Copy ``src`` to ``dst`` (or hard-link it; a copy where linking fails); keep a ``dst``
    that already exists."""
    if dst.exists():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or links not supported: copy instead
            pass
    shutil.copy2(src, dst)


def _write_json(path: Path, data: dict) -> None:
    """Atomically write ``data``, one top-level key per line (the data engine's layout)."""
    lines = [f"  {json.dumps(str(k))}: {json.dumps(v)}" for k, v in data.items()]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    tmp.replace(path)


def _check_info(out: Path, src: Path, split: str, record: dict) -> None:
    """Record this run's settings in ``OUT/enhance_info.json``; ConfigError when ``OUT`` holds
    the split made from another source or with other settings."""
    path = out / INFO_FILE
    info = json.loads(path.read_text()) if path.exists() else {"source": str(src), "splits": {}}
    if info.get("source") != str(src):
        raise ConfigError(f"{out} was enhanced from {info.get('source')}, not {src}; choose "
                          "another --out")  # fmt: skip
    old = info["splits"].get(split)
    if old is not None and old != record:
        diff = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
        raise ConfigError(
            f"{out}/{split} was enhanced with other settings ({', '.join(diff)} differ); use "
            "the same settings to resume, or another --out"
        )
    info["splits"][split] = record
    out.mkdir(parents=True, exist_ok=True)
    _write_json(path, info)


class _Scene:
    """One scene folder of the source and of the output."""

    def __init__(self, src: Path, out: Path) -> None:
        self.src, self.out = src, out
        self.files: dict[str, list[Path]] = {}  # image name -> its label files
        for sub in sorted(p for p in src.iterdir() if p.is_dir() and p.name not in _IMAGE_DIRS):
            for f in sub.iterdir():
                self.files.setdefault(f.name.split("_")[0].split(".")[0], []).append(f)
        self.done = {int(p.stem) for p in (out / "rgb").glob("*") if p.stem.isdigit()}

    def rgb_out(self, im_id: int) -> Path:
        name = f"{im_id:06d}"
        src = next(iter(sorted((self.src / "rgb").glob(f"{name}.*"))), None)
        return self.out / "rgb" / (src.name if src is not None else f"{name}.png")

    def write(self, im_id: int, rgb: np.ndarray, link: bool) -> None:
        for f in self.files.get(f"{im_id:06d}", []):
            _place(f, self.out / f.parent.name / f.name, link)
        path = self.rgb_out(im_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1])):
            raise OSError(f"cannot write {tmp}")
        tmp.replace(path)
        self.done.add(im_id)

    def write_labels(self) -> None:
        """The source's scene JSON entries of the images done (a byte copy when all are)."""
        if not self.done:
            return
        for name in _LABELS:
            path = self.src / f"{name}.json"
            if not path.exists():
                continue
            data = json.loads(path.read_text())
            if {int(k) for k in data} <= self.done:
                shutil.copyfile(path, self.out / path.name)
            else:
                _write_json(self.out / path.name, {k: v for k, v in data.items()
                                                   if int(k) in self.done})  # fmt: skip


def enhance_dataset(src: str | os.PathLike, out: str | os.PathLike, enhancer: Enhancer,
                    split: str = "train", max_images: int | None = None, batch_size: int = 1,
                    link: bool = False, weights: dict | None = None,
                    progress: bool = True) -> EnhanceSummary:  # fmt: skip
    """Enhance ``split`` of the BOP dataset ``src`` into ``out`` (module doc).

    Args:
        enhancer: :class:`~.controlnet.ControlNetEnhancer` (or anything with its ``settings``
            and ``enhance``); prompts and seeds come from its settings.
        max_images: enhance only the split's first N images (None: all).
        batch_size: images per pipeline call (consecutive images of one size).
        link: hard-link instead of copying the unchanged files.
        weights: where the weights came from, recorded in ``enhance_info.json``.

    Raises:
        ConfigError: ``out`` is ``src``, or holds this split made with other settings.
        FileNotFoundError: ``src`` has no such split.
    """
    start = time.perf_counter()
    src, out = Path(src).resolve(), Path(out).resolve()
    if src == out:
        raise ConfigError("the output folder must differ from the source dataset")
    ds = BopDataset(src, split, load_masks=False)
    s = enhancer.settings
    _check_info(out, src, split, {**s.to_dict(), **(weights or {})})
    for f in sorted(src.iterdir()):
        if f.is_file():
            _place(f, out / f.name, link)
        elif f.name == "models":
            for m in sorted(f.rglob("*")):
                if m.is_file():
                    _place(m, out / m.relative_to(src), link)
    # (scene_id, im_id) of every image in BOP order (BopDataset's index, as bop_objects reads it)
    ids = ds._index[:max_images] if max_images is not None else ds._index
    scenes: dict[int, _Scene] = {}
    summary = EnhanceSummary(out, total=len(ids))
    todo = []
    for pos, (scene_id, im_id) in enumerate(ids):
        if scene_id not in scenes:
            name = f"{scene_id:06d}"
            scenes[scene_id] = _Scene(ds.split_dir / name, out / split / name)
        if im_id in scenes[scene_id].done:
            summary.skipped += 1
        else:
            todo.append(pos)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"enhancing {split}", unit="img")
    batch: list = []

    def flush() -> None:
        samples = list(batch)
        seeds = [image_seed(s.seed, x.scene_id, x.im_id) for x in samples]
        prompts = [image_prompt([o.category for o in x.objects], s, seed)
                   for x, seed in zip(samples, seeds, strict=True)]  # fmt: skip
        for x, rgb in zip(samples, enhancer.enhance([x.rgb for x in samples], prompts, seeds),
                          strict=True):  # fmt: skip
            scenes[x.scene_id].write(x.im_id, rgb, link)
        summary.written += len(batch)
        if bar is not None:
            bar.update(len(batch))
        batch.clear()

    try:
        for pos in todo:
            sample = ds[pos]
            if batch and sample.rgb.shape != batch[0].rgb.shape:
                flush()
            batch.append(sample)
            if len(batch) >= batch_size:
                flush()
        if batch:
            flush()
    finally:  # the JSON files list what was written, even after an interruption
        for scene in scenes.values():
            scene.write_labels()
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - start
    return summary
