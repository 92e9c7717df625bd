"""Load Stable Diffusion 1.5 + ControlNet (canny) from local files only (paper 001 Sec. 3.1).

Two diffusers-format folders, each a local folder or a hub id looked up in the local hub cache
(``local_files_only=True``; nothing is downloaded, whatever ``HF_HUB_OFFLINE`` says):

* the SD-1.5 base (default ``stable-diffusion-v1-5/stable-diffusion-v1-5``): ``model_index.json``
  and ``unet``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``; the ``safety_checker``
  and ``feature_extractor`` are neither needed nor loaded (a safety checker blanks images it
  flags, which would leave black training images; the authors' code has none);
* the ControlNet (default ``lllyasviel/sd-controlnet-canny``): ``config.json`` + weights.

Weights are read from ``.safetensors`` when present; diffusers and transformers read a ``.bin``
only through ``torch.load(weights_only=True)``. The base's scheduler is replaced by DDIM with
the base's noise schedule (the authors sample with DDIM, eta 0). diffusers, transformers and
huggingface_hub are imported inside the functions: importing this module needs nothing extra.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import torch

from ros_pose_estimation.core.errors import CheckpointError

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CONTROLNET",
    "download_hint",
    "load_controlnet_pipeline",
    "resolve_weights",
]

DEFAULT_BASE = "stable-diffusion-v1-5/stable-diffusion-v1-5"
DEFAULT_CONTROLNET = "lllyasviel/sd-controlnet-canny"
#: sub-folder -> files it must hold (any one of the weight files)
_BASE_PARTS = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "text_encoder": ("model.safetensors", "pytorch_model.bin"),
}
_CONTROLNET_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
_HINTS = {
    "base": (
        "Stable Diffusion 1.5 base",
        "hf download stable-diffusion-v1-5/stable-diffusion-v1-5 model_index.json "
        "unet/config.json unet/diffusion_pytorch_model.safetensors vae/config.json "
        "vae/diffusion_pytorch_model.safetensors text_encoder/config.json "
        "text_encoder/model.safetensors tokenizer/merges.txt tokenizer/vocab.json "
        "tokenizer/special_tokens_map.json tokenizer/tokenizer_config.json "
        "scheduler/scheduler_config.json --local-dir models/diffusion/sd15",
        "--base models/diffusion/sd15",
        "about 4.3 GB",
    ),
    "controlnet": (
        "ControlNet canny",
        "hf download lllyasviel/sd-controlnet-canny config.json "
        "diffusion_pytorch_model.safetensors --local-dir models/diffusion/sd-controlnet-canny",
        "--controlnet models/diffusion/sd-controlnet-canny",
        "1.45 GB",
    ),
}


def download_hint(kind: str) -> str:
    """What to download for ``kind`` (``"base"`` or ``"controlnet"``) and where to put it."""
    what, command, flag, size = _HINTS[kind]
    return (
        f"download the {what} ({size}) on a machine with network access, e.g. `{command}`, "
        f"copy the folder to this machine and pass {flag} (or put the repository into the "
        "local Hugging Face hub cache, HF_HOME, and pass its hub id)"
    )


def resolve_weights(
    name_or_path: str | os.PathLike, kind: str, cache_dir: str | None = None
) -> Path:
    """The folder of ``kind`` (``"base"`` or ``"controlnet"``): a local folder as is, else a hub
    id (``owner/name``) resolved in the local hub cache (``cache_dir``, default HF_HOME's),
    never downloaded; then checked for the files the pipeline reads.

    Raises:
        CheckpointError: not found or incomplete; the message names what to download and
            where to put it.
    """
    what = _HINTS[kind][0]
    path = Path(name_or_path).expanduser()
    name = str(name_or_path)
    if path.is_dir():
        folder = path
    elif name.count("/") == 1 and not name.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            folder = Path(snapshot_download(name, local_files_only=True, cache_dir=cache_dir))
        except (LocalEntryNotFoundError, OSError, ValueError) as err:
            raise CheckpointError(
                f"{what} {name!r} is not a folder and not in the local hub cache "
                f"({type(err).__name__}); {download_hint(kind)}"
            ) from err
    else:
        raise CheckpointError(f"{what} folder {name!r} does not exist; {download_hint(kind)}")
    missing = _missing_files(folder, kind)
    if missing:
        raise CheckpointError(
            f"{what} folder {str(folder)!r} is incomplete, missing: {', '.join(missing)}; "
            f"{download_hint(kind)}"
        )
    return folder


def _missing_files(folder: Path, kind: str) -> list[str]:
    if kind == "controlnet":
        parts = {"": _CONTROLNET_WEIGHTS}
        missing = [] if (folder / "config.json").is_file() else ["config.json"]
    else:
        parts = _BASE_PARTS
        needed = ("model_index.json", "scheduler/scheduler_config.json", "tokenizer")
        missing = [f for f in needed if not (folder / f).exists()]
        missing += [
            f"{sub}/config.json" for sub in parts if not (folder / sub / "config.json").is_file()
        ]
    for sub, weights in parts.items():
        if not any((folder / sub / w).is_file() for w in weights):
            missing.append(" or ".join(str(Path(sub) / w) for w in weights))
    return missing


def load_controlnet_pipeline(
    base: str | os.PathLike = DEFAULT_BASE,
    controlnet: str | os.PathLike = DEFAULT_CONTROLNET,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    cache_dir: str | None = None,
) -> Any:
    """A ``StableDiffusionControlNetPipeline`` on ``device`` with a DDIM scheduler, no safety
    checker and no progress bar.

    Args:
        base, controlnet: folders or hub ids (see the module doc).
        dtype: weights' dtype; None: float16 on CUDA, float32 elsewhere.
        cache_dir: hub cache to look hub ids up in (None: the default, HF_HOME).

    Raises:
        CheckpointError: weights missing (the message says what to download and where to put
            it) or unreadable.
    """
    from diffusers import ControlNetModel, DDIMScheduler, StableDiffusionControlNetPipeline

    device = torch.device(device)
    if dtype is None:
        dtype = torch.float16 if device.type == "cuda" else torch.float32
    base_dir = resolve_weights(base, "base", cache_dir)
    controlnet_dir = resolve_weights(controlnet, "controlnet", cache_dir)
    # without accelerate, diffusers says so on every load unless told to initialise normally
    common = {
        "dtype": dtype,
        "local_files_only": True,
        "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None,
    }
    try:
        net = ControlNetModel.from_pretrained(str(controlnet_dir), **common)
        pipe = StableDiffusionControlNetPipeline.from_pretrained(
            str(base_dir), controlnet=net, safety_checker=None, feature_extractor=None,
            requires_safety_checker=False, **common,
        )  # fmt: skip
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"could not load the ControlNet pipeline from {str(base_dir)!r} and "
            f"{str(controlnet_dir)!r}: {err}"
        ) from err
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
