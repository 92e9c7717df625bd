"""Zero-1-to-3 view generator (paper 000 Sec. 3.1, Eq. 1) on diffusers components.

The project's own pipeline, following the original demo (``zero123/gradio_new.py``) exactly:

1. the input view: the segmented object framed on a white ``S x S`` canvas
   (:func:`~.zero123_preprocess.preprocess_object`), as ``x`` in [-1, 1];
2. CLIP branch: ``x`` resized to the encoder's ``image_size`` (bicubic, ``align_corners=True``,
   no antialiasing, as the original's kornia resize), mapped to [0, 1], normalised with the CLIP
   mean/std -> image embedding ``[1 x 1 x D]``;
3. per target view the pose vector ``T = [d_polar (rad), sin d_az, cos d_az, d_radius]``
   (:func:`~.views.zero123_pose_vector`; Stable-Zero123: 4th entry = the input view's absolute
   polar angle) -> context ``projection(cat(embedding, T))``, one token ``[B x 1 x D']``;
4. input latent ``vae.encode(x).latent_dist.mode()`` ``[1 x 4 x S/8 x S/8]``, *not* scaled;
5. DDIM (``eta`` 1.0, 50 steps) on ``[B x 4 x S/8 x S/8]`` latents with the UNet fed
   ``cat(noisy latent, input latent)`` (8 channels); classifier-free guidance with the batch
   ``[uncond, cond]`` where the unconditional half gets zeros for both the context and the
   input latent, ``eps = u + g (c - u)`` (``g`` 3.0; Stable-Zero123 5.0);
6. decode ``latents / scaling_factor`` (0.18215) -> RGB in [0, 1] -> uint8; the mask is derived
   from the white background (:func:`~.zero123_preprocess.output_mask`).

Noise: view ``i`` of a call draws its initial latent and every DDIM step's noise from its own
CPU generator seeded with ``(seed, i)``, so a result depends on the seed and the view's index
only, not on the batch size nor the device's random number generator.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from offline_training.diffusion.generators import GeneratedView, ObjectImage
from offline_training.diffusion.views import RelativeView, zero123_pose_vector
from offline_training.diffusion.zero123_loading import Zero123Components, load_zero123
from offline_training.diffusion.zero123_preprocess import output_mask, preprocess_object
from ros_pose_estimation.core.errors import ConfigError

__all__ = ["GUIDANCE", "Zero123Generator", "Zero123Settings"]

#: Classifier-free guidance scale of each variant's published demo.
GUIDANCE = {"zero123": 3.0, "stable-zero123": 5.0}


@dataclass(frozen=True)
class Zero123Settings:
    """How views are sampled (defaults: the original demo's).

    Attributes:
        variant: ``"zero123"`` (Zero-1-to-3, Zero123-XL) or ``"stable-zero123"`` (its pose
            vector's 4th entry is the input view's polar angle, from ``obj.elevation_deg``).
        guidance_scale: classifier-free guidance; None: 3.0 (zero123) or 5.0 (stable-zero123);
            1.0 runs the conditional branch only.
        steps: DDIM steps.
        eta: DDIM noise (1.0: as much as DDPM; 0.0: deterministic given the initial noise).
        image_size: side S of input and output images, px (256: 32 x 32 latents).
        batch_size: target views per UNet call (each doubled by guidance).
        mask_threshold: 8-bit levels below white that count as object in the output mask.
    """

    variant: str = "zero123"
    guidance_scale: float | None = None
    steps: int = 50
    eta: float = 1.0
    image_size: int = 256
    batch_size: int = 10
    mask_threshold: int = 20

    def __post_init__(self) -> None:
        if self.variant not in GUIDANCE:
            raise ConfigError(f"variant must be one of {sorted(GUIDANCE)}, got {self.variant!r}")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(
                f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if self.eta < 0 or (self.guidance_scale is not None and self.guidance_scale < 1):
            raise ConfigError(
                f"need eta >= 0 and guidance >= 1, got {self.eta}, {self.guidance_scale}"
            )

    @property
    def guidance(self) -> float:
        return GUIDANCE[self.variant] if self.guidance_scale is None else self.guidance_scale


class Zero123Generator:
    """:class:`~.generators.ViewGenerator` with Zero-1-to-3.

    ``Zero123Generator("models/zero123/zero123-xl", device="cuda", steps=50)`` loads a local
    folder or a hub id from the local cache (never the network; device default: CUDA when
    available; dtype default: float16 on CUDA, float32 on CPU); already loaded
    :class:`Zero123Components` are used as they are. Keyword ``settings`` are
    :class:`Zero123Settings` fields, applied over ``settings``. Not thread-safe (the DDIM
    scheduler keeps the timesteps of the running call).
    """

    name = "zero123"

    def __init__(
        self,
        model: str | os.PathLike | Zero123Components,
        settings: Zero123Settings | None = None,
        *,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        cache_dir: str | None = None,
        **overrides,
    ):
        if not isinstance(model, Zero123Components):
            device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            if dtype is None:
                dtype = torch.float16 if device.type == "cuda" else torch.float32
            model = load_zero123(model, device=device, dtype=dtype, cache_dir=cache_dir)
        self.parts = model
        known = set(Zero123Settings.__dataclass_fields__)
        if set(overrides) - known:
            raise ConfigError(
                f"unknown Zero123Settings fields {sorted(set(overrides) - known)}; known: "
                f"{sorted(known)}"
            )
        self.settings = replace(settings or Zero123Settings(), **overrides)
        factor = model.vae_scale_factor
        if self.settings.image_size % factor:
            raise ConfigError(
                f"image_size must be a multiple of the VAE's {factor}, got "
                f"{self.settings.image_size}"
            )
        weight = next(model.unet.parameters())
        self.device, self.dtype = weight.device, weight.dtype

    def with_settings(self, **changes) -> Zero123Generator:
        """The same loaded models with some settings changed."""
        return Zero123Generator(self.parts, self.settings, **changes)

    def generate(
        self, obj: ObjectImage, views: list[RelativeView], seed: int = 0
    ) -> list[GeneratedView]:
        """One :class:`GeneratedView` (``[S x S x 3]`` uint8, ``[S x S]`` bool) per view."""
        images = self.sample(obj, views, seed)
        rgb = (images * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        threshold = self.settings.mask_threshold
        return [
            GeneratedView(rgb=im, mask=output_mask(im, threshold), view=view)
            for im, view in zip(rgb, views, strict=True)
        ]

    @torch.inference_mode()
    def sample(self, obj: ObjectImage, views: list[RelativeView], seed: int = 0) -> torch.Tensor:
        """``[N x 3 x S x S]`` float32 RGB in [0, 1] on the CPU, one per view, in order."""
        poses = self.pose_vectors(obj, views)
        size = self.settings.image_size
        if not views:
            return torch.zeros(0, 3, size, size)
        image = self.input_image(obj)
        embedding = self.clip_embedding(image)
        latent = self.parts.vae.encode(image).latent_dist.mode()
        seeds = np.random.SeedSequence(int(seed)).spawn(len(views))
        gens = [torch.Generator().manual_seed(int(s.generate_state(1)[0])) for s in seeds]
        out = []
        for start in range(0, len(views), self.settings.batch_size):
            stop = start + self.settings.batch_size
            out.append(self._denoise(embedding, latent, poses[start:stop], gens[start:stop]))
        return torch.cat(out)

    def pose_vectors(self, obj: ObjectImage, views: list[RelativeView]) -> torch.Tensor:
        """``[N x 4]`` pose vectors on the model's device and dtype (see the module doc)."""
        elevation = None
        if self.settings.variant == "stable-zero123":
            if obj.elevation_deg is None:
                raise ConfigError(
                    f"stable-zero123 conditions on the input view's elevation: "
                    f"ObjectImage {obj.name!r} has elevation_deg = None; give it or use "
                    f"variant='zero123'"
                )
            elevation = float(obj.elevation_deg)
        rows = [zero123_pose_vector(v, input_elevation_deg=elevation) for v in views]
        poses = np.stack(rows) if rows else np.zeros((0, 4), np.float32)
        return torch.from_numpy(poses).to(self.device, self.dtype)

    def input_image(self, obj: ObjectImage) -> torch.Tensor:
        """``[1 x 3 x S x S]`` the framed input view in [-1, 1], model device and dtype."""
        framed = preprocess_object(obj.rgb, obj.mask, size=self.settings.image_size)
        x = torch.from_numpy(framed).permute(2, 0, 1)[None].float() / 255.0
        return (x * 2.0 - 1.0).to(self.device, self.dtype)

    def clip_embedding(self, image: torch.Tensor) -> torch.Tensor:
        """``[1 x 1 x D]`` CLIP image embedding of ``image`` ``[1 x 3 x S x S]`` in [-1, 1]."""
        side = self.parts.clip_size
        x = F.interpolate(image.float(), size=(side, side), mode="bicubic", align_corners=True)
        mean = torch.tensor(self.parts.clip_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.parts.clip_std, device=x.device).view(1, 3, 1, 1)
        x = ((x + 1.0) / 2.0 - mean) / std
        return self.parts.image_encoder(pixel_values=x.to(self.dtype)).image_embeds[:, None, :]

    def _noise(self, gens: list[torch.Generator], shape: tuple[int, ...]) -> torch.Tensor:
        noise = torch.stack([torch.randn(shape, generator=g) for g in gens])
        return noise.to(self.device, self.dtype)

    def _denoise(
        self,
        embedding: torch.Tensor,
        latent: torch.Tensor,
        poses: torch.Tensor,
        gens: list[torch.Generator],
    ) -> torch.Tensor:
        """``[B x 3 x S x S]`` float32 images for ``B`` pose vectors ``[B x 4]``."""
        parts, settings = self.parts, self.settings
        b = poses.shape[0]
        context = parts.projection(torch.cat([embedding.expand(b, 1, -1), poses[:, None]], -1))
        concat = latent.expand(b, -1, -1, -1)
        guidance = settings.guidance
        guided = guidance != 1.0
        if guided:  # [uncond, cond]: zeros for the context and the input latent
            context = torch.cat([torch.zeros_like(context), context])
            concat = torch.cat([torch.zeros_like(concat), concat])
        scheduler = parts.scheduler
        scheduler.set_timesteps(settings.steps, device=self.device)
        latents = self._noise(gens, tuple(latent.shape[1:])) * scheduler.init_noise_sigma
        for t in scheduler.timesteps:
            x = torch.cat([latents, latents]) if guided else latents
            x = scheduler.scale_model_input(x, t)
            eps = parts.unet(
                torch.cat([x, concat], dim=1), t, encoder_hidden_states=context
            ).sample
            if guided:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance * (cond - uncond)
            noise = self._noise(gens, tuple(latent.shape[1:])) if settings.eta > 0 else None
            latents = scheduler.step(
                eps, t, latents, eta=settings.eta, variance_noise=noise
            ).prev_sample
        images = parts.vae.decode(latents / parts.vae.config.scaling_factor).sample
        return ((images.float() + 1.0) / 2.0).clamp(0.0, 1.0).cpu()
