"""ControlNet enhancement throughput with tiny random models, end to end (``enhance-dataset``).

    python -m benchmarks.controlnet_tiny [--images 4] [--steps 30] [--resolution 512] \\
        [--device cuda --fp16] [--batch-size 1] [--data BOP_DIR --split test] [--json out.json]

Builds a tiny random SD-1.5-shaped pipeline (UNet ``(4, 8)``, ControlNet from it, tiny CLIP
text encoder and a byte-level tokenizer; ``shared/notes/diffusion.md``), saves it and loads it
back through :func:`~offline_training.diffusion.controlnet_loading.load_controlnet_pipeline`,
renders a small dataset with the data engine (320 x 240; ``--data``: an existing BOP dataset
instead, for a machine without open3d, the renderer) and times
:func:`~offline_training.diffusion.enhance_dataset.enhance_dataset` over it: Canny, the
pipeline at the published settings (512 px -> 512 x 704, 30 DDIM steps, guidance 9), resizing
and writing; it prints images/s (wall) and the process's CPU seconds per image (steadier than
wall time on a shared CPU). ``--latent-stride 8`` (default) gives the VAE four blocks, so latents
are 1/8 of the image as in SD-1.5 (64 x 88 here); ``2`` is diffusion.md's two-block test VAE.
The figure measures the data flow and the fixed costs around the models (Canny, the ControlNet's
full-resolution conditioning convolutions, scheduler, VAE, resizing, PNG writing), not the real
models' cost, which is orders of magnitude higher per step.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

#: diffusion.md's tiny configs (diffusers' own ControlNet tests)
TINY_UNET = {
    "block_out_channels": (4, 8), "layers_per_block": 2, "sample_size": 32, "in_channels": 4,
    "out_channels": 4, "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"), "cross_attention_dim": 32,
    "norm_num_groups": 1,
}  # fmt: skip
TINY_TEXT = {"bos_token_id": 0, "eos_token_id": 2, "hidden_size": 32, "intermediate_size": 37,
             "layer_norm_eps": 1e-5, "num_attention_heads": 4, "num_hidden_layers": 5,
             "pad_token_id": 1, "vocab_size": 1000}  # fmt: skip


def byte_level_tokenizer():
    """A CLIP tokenizer built offline: the 256 byte symbols with and without ``</w>`` and the
    two special tokens (514 ids < the tiny encoder's 1000), no merges."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    chars = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens = [*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[],
                         model_max_length=77)  # fmt: skip


def save_tiny_controlnet(folder: Path, latent_stride: int = 2, seed: int = 0) -> tuple[Path, Path]:
    """Random tiny models saved as ``folder/base`` (SD-1.5 layout) and ``folder/controlnet``;
    returns the two folders. ``latent_stride`` 2: diffusion.md's VAE ``[4, 8]`` and ControlNet
    conditioning ``(16, 32)``; 8: four VAE blocks and ``(16, 16, 32, 32)``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        ControlNetModel,
        DDIMScheduler,
        StableDiffusionPipeline,  # fmt: skip
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    if latent_stride not in (2, 8):
        raise ValueError(f"latent_stride must be 2 or 8, got {latent_stride}")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**TINY_UNET)
    blocks = [4, 8] if latent_stride == 2 else [4, 4, 8, 8]
    vae = AutoencoderKL(
        block_out_channels=blocks,
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(blocks),
        up_block_types=["UpDecoderBlock2D"] * len(blocks),
        latent_channels=4,
        norm_num_groups=2,
        layers_per_block=1 if latent_stride == 8 else 2,
    )
    cond = (16, 32) if latent_stride == 2 else (16, 16, 32, 32)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=cond)
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    text = CLIPTextModel(CLIPTextConfig(**TINY_TEXT))
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=byte_level_tokenizer(),
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    base, net = Path(folder) / "base", Path(folder) / "controlnet"
    pipe.save_pretrained(base)
    controlnet.save_pretrained(net)
    return base, net


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--latent-stride", type=int, choices=(2, 8), default=8)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true", help="float16 weights (CUDA)")
    p.add_argument("--data", type=Path,
                   help="enhance this BOP dataset's images instead of rendering a new one")
    p.add_argument("--split", default="train", help="the split of --data (default train)")
    p.add_argument("--json", help="write the result here")
    args = p.parse_args(argv)
    if args.data is not None and not (args.data / args.split).is_dir():
        p.error(f"--data {args.data} has no split '{args.split}' (no folder "
                f"{args.data / args.split})")

    import torch

    from benchmarks.device_info import describe
    from offline_training.diffusion.controlnet import ControlNetEnhancer, EnhanceSettings
    from offline_training.diffusion.enhance_dataset import enhance_dataset

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base, net = save_tiny_controlnet(tmp / "weights", args.latent_stride)
        data, split = args.data, args.split
        if data is None:
            from offline_training.synthetic.dataset import DatasetConfig, generate_dataset

            data, split = tmp / "bop", "train"
            generate_dataset(DatasetConfig(["mug", "bottle"], data, images=args.images + 1,
                                           instances=2), progress=False)  # fmt: skip
        settings = EnhanceSettings(resolution=args.resolution, steps=args.steps)
        enhancer = ControlNetEnhancer.from_pretrained(str(base), str(net), settings,
                                                      args.device, args.fp16)  # fmt: skip
        enhance_dataset(data, tmp / "warm", enhancer, split=split, max_images=1,
                        progress=False)  # warm-up
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, cpu0 = time.perf_counter(), time.process_time()
        summary = enhance_dataset(data, tmp / "out", enhancer, split=split,
                                  max_images=args.images, batch_size=args.batch_size,
                                  progress=False)  # fmt: skip
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result = {
        "device": describe(args.device), "torch": torch.__version__,
        "dtype": "fp16" if args.fp16 else "fp32", "images": summary.written,
        "size": (f"images of {args.data}, {args.resolution} px control" if args.data
                 else "320x240 -> control 512x704" if args.resolution == 512
                 else str(args.resolution)),
        "steps": args.steps, "batch_size": args.batch_size, "latent_stride": args.latent_stride,
        "seconds": seconds, "images_per_s": summary.written / seconds,
        "process_cpu_s_per_image": cpu / max(summary.written, 1),
    }  # fmt: skip
    print(result["device"])
    print(f"tiny ControlNet enhancement ({result['dtype']}, {args.steps} steps, latent stride "
          f"{args.latent_stride}, batch {args.batch_size}): {summary.written} images in "
          f"{seconds:.1f} s = {result['images_per_s']:.3f} images/s; process CPU time "
          f"{result['process_cpu_s_per_image']:.1f} s per image (all threads; on a shared CPU "
          "the wall figure depends on the other load)")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
