"""``enhance-dataset``: ControlNet-enhanced copy of a BOP dataset (paper 001 Sec. 3.1)::

    enhance-dataset --data data/synth [--out data/synth_enhanced] [--split train] \\
        [--base stable-diffusion-v1-5/stable-diffusion-v1-5 | --base DIR] \\
        [--controlnet lllyasviel/sd-controlnet-canny | --controlnet DIR] \\
        [--device cuda] [--batch-size 4] [--max-images N] [--seed 0] [--link]

Writes ``<data>_enhanced`` (or ``--out``): the source's labels, depth, masks and models with
each RGB image replaced by its ControlNet rendition (:mod:`.enhance_dataset`); rerunning the
same command resumes. The defaults are the authors' settings (:mod:`.controlnet`): Canny
150 / 200, prompt ``"<category>, best quality, extremely detailed"``, the standard ControlNet
negative prompt, 512 px, DDIM 30 steps, eta 0, guidance 9.0, conditioning scale 1.0; float16
on CUDA. Weights are read from local folders or the local hub cache only
(:mod:`.controlnet_loading`).

Exit codes: 0 success; 2 bad arguments (missing dataset or split, missing or incomplete
weights: the message says what to download and where to put it, an output made with other
settings); 130 interrupted (rerun to resume); 1 other failures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from offline_training.diffusion.controlnet_loading import DEFAULT_BASE, DEFAULT_CONTROLNET

PROG = "enhance-dataset"


def parser() -> argparse.ArgumentParser:
    from offline_training.diffusion.controlnet import EnhanceSettings

    d = EnhanceSettings()
    p = argparse.ArgumentParser(prog=PROG, description="Replace the RGB images of a BOP dataset "
                                "by Stable Diffusion 1.5 + ControlNet (canny) renditions of "
                                "their edges; labels, depth and masks are kept.")  # fmt: skip
    p.add_argument("--data", required=True, help="source BOP dataset root (models/, SPLIT/)")
    p.add_argument("--split", default="train", help="split folder (default train)")
    p.add_argument("--out", default=None, help="output root (default <data>_enhanced)")
    p.add_argument(
        "--base",
        default=DEFAULT_BASE,
        help=f"SD-1.5 folder or hub id in the local cache (default {DEFAULT_BASE})",
    )
    p.add_argument(
        "--controlnet",
        default=DEFAULT_CONTROLNET,
        help="ControlNet canny folder "
        f"or hub id in the local cache (default {DEFAULT_CONTROLNET})",
    )
    p.add_argument("--cache-dir", default=None, help="hub cache to look ids up in (default: "
                   "HF_HOME's)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--fp32", action="store_true", help="float32 weights on CUDA (default fp16)")
    p.add_argument("--batch-size", type=int, default=1, help="images per pipeline call")
    p.add_argument(
        "--max-images",
        type=int,
        default=None,
        metavar="N",
        help="enhance only the split's first N images (rerun with more to extend)",
    )
    p.add_argument(
        "--link", action="store_true", help="hard-link the unchanged files instead of copying them"
    )
    p.add_argument("--seed", type=int, default=d.seed, help="base of the per-image seeds")
    p.add_argument(
        "--resolution",
        type=int,
        default=d.resolution,
        help=f"shorter side generated, px (default {d.resolution})",
    )
    p.add_argument("--steps", type=int, default=d.steps, help=f"DDIM steps (default {d.steps})")
    p.add_argument("--eta", type=float, default=d.eta, help=f"DDIM eta (default {d.eta})")
    p.add_argument(
        "--guidance",
        type=float,
        default=d.guidance_scale,
        help=f"classifier-free guidance scale (default {d.guidance_scale})",
    )
    p.add_argument(
        "--conditioning-scale",
        type=float,
        default=d.conditioning_scale,
        help=f"ControlNet strength (default {d.conditioning_scale})",
    )
    p.add_argument(
        "--canny-low",
        type=int,
        default=d.low_threshold,
        help=f"Canny low threshold (default {d.low_threshold})",
    )
    p.add_argument(
        "--canny-high",
        type=int,
        default=d.high_threshold,
        help=f"Canny high threshold (default {d.high_threshold})",
    )
    p.add_argument(
        "--quality-prompt",
        default=d.quality_prompt,
        help=f"appended to the categories (default {d.quality_prompt!r})",
    )
    p.add_argument(
        "--negative-prompt",
        default=d.negative_prompt,
        help="default: the standard ControlNet negative prompt",
    )
    p.add_argument(
        "--colour-prompts",
        action="store_true",
        help="'[colour] [category]' prompts (paper Sec. 3.1; not in the released code)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _run(args: argparse.Namespace) -> None:
    import torch

    from offline_training.diffusion.controlnet import ControlNetEnhancer, EnhanceSettings
    from offline_training.diffusion.enhance_dataset import default_out, enhance_dataset

    split_dir = Path(args.data) / args.split
    if not Path(args.data).is_dir():
        raise _Usage(f"--data {args.data} does not exist")
    if not split_dir.is_dir():
        raise _Usage(f"--data {args.data} has no split {args.split!r} ({split_dir})")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise _Usage(f"--device {args.device}: CUDA is not available (use --device cpu)")
    if args.batch_size < 1 or (args.max_images is not None and args.max_images < 0):
        raise _Usage("--batch-size must be >= 1 and --max-images >= 0")
    settings = EnhanceSettings(
        resolution=args.resolution, steps=args.steps, eta=args.eta,
        guidance_scale=args.guidance, conditioning_scale=args.conditioning_scale,
        low_threshold=args.canny_low, high_threshold=args.canny_high,
        quality_prompt=args.quality_prompt, negative_prompt=args.negative_prompt,
        colour_prompts=args.colour_prompts, seed=args.seed,
    )  # fmt: skip
    fp16 = args.device.startswith("cuda") and not args.fp32
    enhancer = ControlNetEnhancer.from_pretrained(args.base, args.controlnet, settings,
                                                  args.device, fp16, args.cache_dir)  # fmt: skip
    out = Path(args.out) if args.out else default_out(args.data)
    summary = enhance_dataset(
        args.data, out, enhancer, args.split, args.max_images, args.batch_size, args.link,
        weights={"base": str(args.base), "controlnet": str(args.controlnet)},
        progress=not args.no_progress,
    )  # fmt: skip
    print(f"{summary} ({args.device}, {'fp16' if fp16 else 'fp32'})")


class _Usage(Exception):
    """An argument rejected before any work (exit code 2)."""


def main(argv: list[str] | None = None) -> int:
    """``enhance-dataset``; returns the exit code (module doc)."""
    from ros_pose_estimation.core.errors import CheckpointError, ConfigError

    args = parser().parse_args(argv)
    try:
        _run(args)
    except (_Usage, CheckpointError, ConfigError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
