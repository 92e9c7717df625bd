"""Zero-1-to-3 view generation throughput with tiny random models (``Zero123Generator``).

    python -m benchmarks.zero123_tiny [--views 10] [--steps 50] [--image-size 256] \\
        [--batch-size 10] [--latent-stride 8] [--device cuda --fp16] [--json out.json]

Builds diffusion.md's tiny Zero-1-to-3 (UNet ``(32, 64)`` with 8 input channels, CLIP vision
hidden/projection 32, image size 32, camera projection 36 -> 32), saves it in the
``cc_projection`` layout, loads it back through
:func:`~offline_training.diffusion.zero123_loading.load_zero123` and times
:meth:`~offline_training.diffusion.zero123.Zero123Generator.generate` for one object and
``--views`` target views at the published settings (256 px, 50 DDIM steps, eta 1, guidance 3),
after a one-view warm-up. ``--latent-stride 8`` (default) gives the VAE four blocks, so the
latents are 32 x 32 at 256 px as with the real model; ``2`` is diffusion.md's two-block test
VAE. The figure measures the data flow and per-step overhead, not the real model's cost (the
real UNet is ~860 M parameters against ~1.4 M here). On a shared machine the process CPU time
(printed too, with the load average) is the better estimate of the uncontended cost.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: diffusion.md's tiny configs (diffusers' Zero-1-to-3 / SD tests, 8 input channels).
TINY_UNET = {
    "block_out_channels": (32, 64), "layers_per_block": 2, "sample_size": 32, "in_channels": 8,
    "out_channels": 4, "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"), "cross_attention_dim": 32,
}  # fmt: skip
TINY_CLIP = {"hidden_size": 32, "projection_dim": 32, "intermediate_size": 37,
             "num_attention_heads": 4, "num_hidden_layers": 5, "image_size": 32,
             "patch_size": 4}  # fmt: skip
LAYOUTS = ("cc_projection", "clip_camera_projection")


def save_tiny_zero123(
    root: Path, layout: str = "cc_projection", latent_stride: int = 2, seed: int = 0
) -> Path:
    """Random tiny Zero-1-to-3 saved in a published layout; returns ``root``.

    ``cc_projection`` (kxic): float32, projection ``projection.weight/bias`` in a ``.bin`` file
    whose ``config.json`` records no sizes, plus ``feature_extractor/preprocessor_config.json``;
    ``clip_camera_projection`` (ashawkey): every part float16, the UNet under the ``fp16``
    variant file name, projection ``proj.weight/bias`` in safetensors. ``latent_stride`` 2:
    diffusion.md's VAE ``[32, 64]``; 8: four blocks ``[32, 32, 64, 64]``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from offline_training.diffusion.zero123_loading import CLIP_MEAN, CLIP_STD, DEFAULT_SCHEDULER

    if layout not in LAYOUTS or latent_stride not in (2, 8):
        raise ValueError(
            f"layout in {LAYOUTS}, latent_stride 2 or 8; got {layout}, {latent_stride}"
        )
    root = Path(root)
    torch.manual_seed(seed)
    blocks = [32, 64] if latent_stride == 2 else [32, 32, 64, 64]
    models = {
        "unet": UNet2DConditionModel(**TINY_UNET),
        "vae": AutoencoderKL(block_out_channels=blocks, in_channels=3, out_channels=3,
                             down_block_types=["DownEncoderBlock2D"] * len(blocks),
                             up_block_types=["UpDecoderBlock2D"] * len(blocks),
                             latent_channels=4),
        "image_encoder": CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY_CLIP)),
    }  # fmt: skip
    projection = torch.nn.Linear(TINY_CLIP["projection_dim"] + 4, TINY_UNET["cross_attention_dim"])
    fp16 = layout == "clip_camera_projection"
    for name, model in models.items():
        model = model.half() if fp16 else model
        variant = "fp16" if fp16 and name == "unet" else None
        model.save_pretrained(root / name, variant=variant)
    DDIMScheduler(**DEFAULT_SCHEDULER).save_pretrained(root / "scheduler")
    folder = root / layout
    folder.mkdir(parents=True)
    if fp16:
        state = {"proj.weight": projection.weight, "proj.bias": projection.bias}
        state = {k: v.detach().half().contiguous() for k, v in state.items()}
        save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
        config = {"_class_name": "CLIPCameraProjection", "embedding_dim": 32}
    else:
        state = {f"projection.{k}": v for k, v in projection.state_dict().items()}
        torch.save(state, folder / "diffusion_pytorch_model.bin")
        config = {"_class_name": "CCProjection"}  # the published one records no sizes
        (root / "feature_extractor").mkdir()
        clip = {"image_mean": list(CLIP_MEAN), "image_std": list(CLIP_STD), "crop_size": 32}
        (root / "feature_extractor" / "preprocessor_config.json").write_text(json.dumps(clip))
    (folder / "config.json").write_text(json.dumps(config))
    return root


def _object():
    from offline_training.diffusion.generators import ObjectImage

    rgb = np.full((120, 160, 3), 90, np.uint8)
    mask = np.zeros((120, 160), bool)
    mask[20:100, 30:130] = True
    rgb[mask] = (200, 40, 60)
    return ObjectImage(rgb=rgb, mask=mask, name="box", elevation_deg=20.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--views", type=int, default=10)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--latent-stride", type=int, choices=(2, 8), default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true", help="float16 weights (CUDA)")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)

    import torch

    from benchmarks.device_info import describe
    from offline_training.diffusion.views import view_grid
    from offline_training.diffusion.zero123 import Zero123Generator

    dtype = torch.float16 if args.fp16 else torch.float32
    views = view_grid(n=args.views, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_tiny_zero123(Path(tmp) / "zero123", latent_stride=args.latent_stride)
        gen = Zero123Generator(folder, device=args.device, dtype=dtype, steps=args.steps,
                               image_size=args.image_size, batch_size=args.batch_size)  # fmt: skip
        obj = _object()
        gen.generate(obj, views[:1])  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, cpu0 = time.perf_counter(), time.process_time()
        out = gen.generate(obj, views, seed=1)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    result = {
        "device": describe(args.device), "torch": torch.__version__,
        "dtype": "fp16" if args.fp16 else "fp32", "views": len(out),
        "image_size": args.image_size, "latent_size": args.image_size // args.latent_stride,
        "steps": args.steps, "batch_size": args.batch_size, "seconds": seconds,
        "ms_per_view": 1000.0 * seconds / len(out), "cpu_seconds": cpu_seconds,
        "load_avg_1min": os.getloadavg()[0],
    }  # fmt: skip
    print(result["device"])
    print(f"torch {torch.__version__}; tiny Zero-1-to-3 ({result['dtype']}, {args.image_size} px, "
          f"{result['latent_size']}^2 latents, {args.steps} DDIM steps, guidance 3, batch "
          f"{args.batch_size}): {len(out)} views in {seconds:.2f} s = "
          f"{result['ms_per_view']:.1f} ms/view (process CPU {cpu_seconds:.1f} s, load average "
          f"{result['load_avg_1min']:.1f})")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
