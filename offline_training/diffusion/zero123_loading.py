"""Load a Zero-1-to-3 checkpoint in diffusers format from local files only.

Two published folder layouts are read (see ``shared/notes/diffusion.md``), both with ``unet``
(``UNet2DConditionModel``, 8 input channels), ``vae`` (``AutoencoderKL``), ``image_encoder``
(``CLIPVisionModelWithProjection``) and ``scheduler`` (DDIM) sub-folders, and a camera
projection (``Linear 772 -> 768``) in one of:

* ``cc_projection`` (``kxic/zero123-xl`` and friends): weights ``projection.weight`` /
  ``projection.bias``;
* ``clip_camera_projection`` (``ashawkey/zero123-xl-diffusers`` and friends): weights
  ``proj.weight`` / ``proj.bias``, possibly stored in fp16.

The projection is rebuilt here as :class:`CameraProjection` with its sizes taken from the
weights (the published ``cc_projection/config.json`` records none), so no remote or community
code is ever run. Nothing touches the network: a hub id is looked up in the local hub cache
(``local_files_only=True``). diffusers, transformers and huggingface_hub are imported inside the
functions, so importing this module needs torch only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ros_pose_estimation.core.errors import CheckpointError

__all__ = [
    "DOWNLOAD_HINT",
    "CameraProjection",
    "Zero123Components",
    "load_camera_projection",
    "load_zero123",
    "resolve_model_dir",
]

#: What the errors tell a user to do when weights are missing.
DOWNLOAD_HINT = (
    "download a Zero-1-to-3 checkpoint in diffusers format on a machine with network access, "
    "e.g. `hf download kxic/zero123-xl --local-dir models/zero123/zero123-xl` (or "
    "`ashawkey/zero123-xl-diffusers`; Stable-Zero123: `kxic/stable-zero123`), copy the folder "
    "here and pass it (or the hub id, once it is in the local hub cache under HF_HOME) with "
    "`generate-views --generator zero123 --weights FOLDER`"
)
PROJECTION_FOLDERS = ("cc_projection", "clip_camera_projection")
#: ``(file, variant)`` candidates of a diffusers weights file, in order of preference.
_DIFFUSERS_WEIGHTS = (
    ("diffusion_pytorch_model.safetensors", None),
    ("diffusion_pytorch_model.bin", None),
    ("diffusion_pytorch_model.fp16.safetensors", "fp16"),
    ("diffusion_pytorch_model.fp16.bin", "fp16"),
)
_TRANSFORMERS_WEIGHTS = (
    ("model.safetensors", None),
    ("pytorch_model.bin", None),
    ("model.fp16.safetensors", "fp16"),
    ("pytorch_model.fp16.bin", "fp16"),
)
#: The original training schedule (LDM ``linear_start/end`` 0.00085/0.012 on sqrt betas,
#: 1000 steps), used when a folder has no ``scheduler`` sub-folder. ``steps_offset=1`` with
#: "leading" spacing gives LDM's uniform DDIM timesteps ``1, 21, ..., 981`` for 50 steps.
DEFAULT_SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "prediction_type": "epsilon",
}
#: OpenAI CLIP's normalisation, used when ``feature_extractor`` gives none.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CameraProjection(torch.nn.Module):
    """``Linear(in_features -> out_features)`` over ``[B x 1 x (D + 4)]``: CLIP image
    embedding concatenated with the pose vector -> one ``[B x 1 x D']`` context token."""

    def __init__(self, in_features: int = 772, out_features: int = 768) -> None:
        super().__init__()
        self.projection = torch.nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)


@dataclass
class Zero123Components:
    """The loaded parts, on one device in one dtype.

    Attributes:
        unet, vae, image_encoder, projection, scheduler: the models (``eval()``).
        clip_size: side the CLIP branch resizes to (the encoder config's ``image_size``).
        clip_mean, clip_std: ``(3,)`` normalisation of the CLIP branch, for [0, 1] pixels.
    """

    unet: Any
    vae: Any
    image_encoder: Any
    projection: CameraProjection
    scheduler: Any
    clip_size: int
    clip_mean: tuple[float, float, float] = CLIP_MEAN
    clip_std: tuple[float, float, float] = CLIP_STD

    @property
    def vae_scale_factor(self) -> int:
        """Image pixels per latent pixel (8 for the published VAE)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


def resolve_model_dir(name_or_path: str | os.PathLike, cache_dir: str | None = None) -> Path:
    """A local folder as is, else a hub id (``owner/name``) resolved in the local hub cache
    (never downloaded). Raises :class:`CheckpointError` naming what to download."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    name = str(name_or_path)
    if name.count("/") == 1 and not path.exists() and not name.startswith((".", "/", "~")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            return Path(snapshot_download(name, local_files_only=True, cache_dir=cache_dir))
        except (LocalEntryNotFoundError, OSError, ValueError) as err:
            raise CheckpointError(
                f"Zero-1-to-3 model {name!r}: not a folder and not in the local hub cache "
                f"({type(err).__name__}); {DOWNLOAD_HINT}"
            ) from err
    raise CheckpointError(
        f"Zero-1-to-3 model folder {str(path)!r} does not exist; {DOWNLOAD_HINT}"
    )


def _weights(folder: Path, candidates: tuple) -> tuple[Path, str | None] | None:
    for file, variant in candidates:
        if (folder / file).is_file():
            return folder / file, variant
    return None


def _variant(folder: Path, candidates: tuple) -> str | None:
    found = _weights(folder, candidates)
    return None if found is None else found[1]


def _check_layout(root: Path) -> Path:
    """The projection folder; raises :class:`CheckpointError` listing every missing part."""
    missing = []
    for sub, candidates in (
        ("unet", _DIFFUSERS_WEIGHTS),
        ("vae", _DIFFUSERS_WEIGHTS),
        ("image_encoder", _TRANSFORMERS_WEIGHTS),
    ):
        if not (root / sub / "config.json").is_file() or _weights(root / sub, candidates) is None:
            missing.append(f"{sub}/ (config.json and weights)")
    projection = [root / p for p in PROJECTION_FOLDERS if _weights(root / p, _DIFFUSERS_WEIGHTS)]
    if not projection:
        missing.append(" or ".join(f"{p}/ (weights)" for p in PROJECTION_FOLDERS))
    if missing:
        raise CheckpointError(
            f"Zero-1-to-3 model folder {str(root)!r} is incomplete, missing: "
            f"{', '.join(missing)}; {DOWNLOAD_HINT}"
        )
    return projection[0]


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_camera_projection(folder: str | os.PathLike) -> CameraProjection:
    """The camera projection of either layout (``projection.*`` or ``proj.*`` weights, any
    float dtype), in float32 on the CPU; sizes from the weights, loaded strictly."""
    folder = Path(folder)
    found = _weights(folder, _DIFFUSERS_WEIGHTS)
    if found is None:
        raise CheckpointError(f"no camera projection weights in {str(folder)!r}; {DOWNLOAD_HINT}")
    state = _state_dict(found[0])
    for prefix in ("projection.", "proj."):
        picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if picked:
            break
    if set(picked) != {"weight", "bias"} or picked["weight"].ndim != 2:
        raise CheckpointError(
            f"{found[0]}: expected a Linear's projection.weight/bias or proj.weight/bias, "
            f"got keys {sorted(state)}"
        )
    out_features, in_features = picked["weight"].shape
    module = CameraProjection(int(in_features), int(out_features))
    module.projection.load_state_dict({k: v.float() for k, v in picked.items()}, strict=True)
    return module


def _clip_normalisation(root: Path) -> tuple[tuple, tuple]:
    import json

    config = root / "feature_extractor" / "preprocessor_config.json"
    if not config.is_file():
        return CLIP_MEAN, CLIP_STD
    data = json.loads(config.read_text())
    return tuple(data.get("image_mean", CLIP_MEAN)), tuple(data.get("image_std", CLIP_STD))


def load_zero123(
    name_or_path: str | os.PathLike,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    cache_dir: str | None = None,
) -> Zero123Components:
    """Load every part from a local folder or the local hub cache onto ``device`` in ``dtype``.

    Raises:
        CheckpointError: the folder or a part is missing (the message says what to download),
            or the parts do not fit together (UNet not 8-channel, projection sizes).
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPVisionModelWithProjection

    root = resolve_model_dir(name_or_path, cache_dir)
    projection_dir = _check_layout(root)
    try:
        unet, vae = (
            cls.from_pretrained(
                str(root / sub),
                torch_dtype=dtype,
                variant=_variant(root / sub, _DIFFUSERS_WEIGHTS),
                low_cpu_mem_usage=False,
                local_files_only=True,
            )
            for cls, sub in ((UNet2DConditionModel, "unet"), (AutoencoderKL, "vae"))
        )
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(
            str(root / "image_encoder"),
            dtype=dtype,
            local_files_only=True,
            variant=_variant(root / "image_encoder", _TRANSFORMERS_WEIGHTS),
        )
    except (OSError, ValueError) as err:
        raise CheckpointError(
            f"Zero-1-to-3 model {str(root)!r} could not be loaded: {err}; {DOWNLOAD_HINT}"
        ) from err
    if (root / "scheduler" / "scheduler_config.json").is_file():
        scheduler = DDIMScheduler.from_config(DDIMScheduler.load_config(root / "scheduler"))
    else:
        scheduler = DDIMScheduler.from_config(DEFAULT_SCHEDULER)
    projection = load_camera_projection(projection_dir).to(dtype)
    _check_sizes(unet, image_encoder, projection, root)
    mean, std = _clip_normalisation(root)
    parts = Zero123Components(
        unet=unet.to(device).eval(),
        vae=vae.to(device).eval(),
        image_encoder=image_encoder.to(device).eval(),
        projection=projection.to(device).eval(),
        scheduler=scheduler,
        clip_size=int(image_encoder.config.image_size),
        clip_mean=mean,
        clip_std=std,
    )
    return parts


def _check_sizes(unet: Any, image_encoder: Any, projection: CameraProjection, root: Path) -> None:
    linear = projection.projection
    embed = int(image_encoder.config.projection_dim)
    problems = []
    if int(unet.config.in_channels) != 8:
        problems.append(f"unet has {unet.config.in_channels} input channels, not 8 (not Zero123)")
    if linear.in_features != embed + 4:
        problems.append(f"projection takes {linear.in_features}, not CLIP {embed} + 4 pose")
    if linear.out_features != int(unet.config.cross_attention_dim):
        problems.append(
            f"projection gives {linear.out_features}, the unet attends to "
            f"{unet.config.cross_attention_dim}"
        )
    if problems:
        raise CheckpointError(f"Zero-1-to-3 model {str(root)!r}: {'; '.join(problems)}")
