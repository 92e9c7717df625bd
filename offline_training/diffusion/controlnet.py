"""ControlNet (canny) enhancement of the data engine's renders (paper 001 Eq. 2, Sec. 3.1).

``I' = Psi(CannyEdge(I_render))``: the render's Canny edge map conditions Stable Diffusion 1.5
through a canny ControlNet, which paints a realistic image with the same outlines, so the
render's pose labels, masks and depth still hold for it. Per image:

1. resize the ``[H x W x 3]`` uint8 render so that its shorter side is ``resolution`` px, both
   sides rounded to multiples of 64 (:func:`control_size`; Lanczos when enlarging, area when
   shrinking, as the authors' ``resize_image``);
2. Canny edges of the resized RGB render (OpenCV on the three channels, thresholds 150 / 200)
   -> the control image ``[H' x W' x 3]`` float32 in [0, 1] (0 or 1, one edge map in each
   channel; :func:`control_image`);
3. prompt ``"<category>, best quality, extremely detailed"`` (:func:`image_prompt`; an image of
   several categories names them all, ``"mug and bottle, ..."``, in annotation order), the
   standard ControlNet negative prompt, DDIM 30 steps with eta 0, classifier-free guidance 9.0
   (the control image conditions both branches), conditioning scale 1.0;
4. the ``[H' x W' x 3]`` result resized back to ``H x W`` (area when shrinking, bilinear
   otherwise).

These are the settings of the authors' ``ControlNet/run_canny.py`` (:class:`EnhanceSettings`).
Differences: the initial noise comes from a per-image seed (:func:`image_seed`; theirs re-seeds
10 for every image, which gives every image the same noise), drawn on the CPU so that a seed
gives the same noise on any device. The paper's ``"[colour] [category]"`` prompts
(Sec. 3.1, not in the released code) are an option, off by default (``colour_prompts``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from ros_pose_estimation.core.errors import ConfigError, InputError

__all__ = [
    "COLOURS",
    "NEGATIVE_PROMPT",
    "ControlNetEnhancer",
    "EnhanceSettings",
    "canny_edges",
    "control_image",
    "control_size",
    "image_prompt",
    "image_seed",
    "resize_to",
]

#: The negative prompt of the ControlNet demos, as the authors used it.
NEGATIVE_PROMPT = (
    "longbody, lowres, bad anatomy, bad hands, missing fingers, extra digit, fewer digits, "
    "cropped, worst quality, low quality"
)
#: Colours drawn for ``colour_prompts`` (paper: "red car", "green aeroplane").
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black",
           "white", "grey", "silver")  # fmt: skip


@dataclass
class EnhanceSettings:
    """How an image is enhanced; the defaults are the authors' (module doc).

    Attributes:
        resolution: shorter side of the generated image (px), sides multiples of 64.
        steps: DDIM steps; eta: DDIM eta (0 = deterministic given the initial noise).
        guidance_scale: classifier-free guidance weight.
        conditioning_scale: ControlNet residual scale ("control strength").
        low_threshold, high_threshold: Canny hysteresis thresholds (gradient magnitude).
        quality_prompt: appended to the category names.
        negative_prompt: the unconditional branch's prompt.
        colour_prompts: prefix each category with a colour drawn from the image's seed.
        seed: base seed of the per-image seeds (>= 0).
    """

    resolution: int = 512
    steps: int = 30
    eta: float = 0.0
    guidance_scale: float = 9.0
    conditioning_scale: float = 1.0
    low_threshold: int = 150
    high_threshold: int = 200
    quality_prompt: str = "best quality, extremely detailed"
    negative_prompt: str = NEGATIVE_PROMPT
    colour_prompts: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resolution < 64 or self.steps < 1 or self.seed < 0:
            raise ConfigError(f"need resolution >= 64, steps >= 1 and seed >= 0, got "
                              f"{self.resolution}, {self.steps}, {self.seed}")  # fmt: skip
        if not 0 <= self.low_threshold <= self.high_threshold:
            raise ConfigError(f"need 0 <= low_threshold <= high_threshold, got "
                              f"{self.low_threshold}, {self.high_threshold}")  # fmt: skip
        if not 0.0 <= self.eta <= 1.0:
            raise ConfigError(f"eta must be in [0, 1], got {self.eta}")

    def to_dict(self) -> dict:
        return asdict(self)


def control_size(height: int, width: int, resolution: int = 512) -> tuple[int, int]:
    """``(H', W')`` px: shorter side scaled to ``resolution``, each side rounded to a multiple
    of 64 (at least 64)."""
    k = resolution / min(height, width)
    return (max(64, int(np.round(height * k / 64.0)) * 64),
            max(64, int(np.round(width * k / 64.0)) * 64))  # fmt: skip


def resize_to(image: np.ndarray, height: int, width: int, enlarge: int = cv2.INTER_LANCZOS4):
    """``image`` resized to ``height x width`` (area interpolation when shrinking both sides,
    ``enlarge`` otherwise)."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image.copy()
    shrink = height <= h and width <= w
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else enlarge)


def canny_edges(rgb: np.ndarray, low: int = 150, high: int = 200) -> np.ndarray:
    """``[H x W]`` uint8 edge map (0 / 255) of an ``[H x W x 3]`` uint8 image (OpenCV Canny
    on the colour image: the strongest channel's gradient, L1 norm, 3x3 Sobel)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected an [H x W x 3] uint8 image, got {rgb.shape} {rgb.dtype}")
    return cv2.Canny(np.ascontiguousarray(rgb), low, high)


def control_image(rgb: np.ndarray, settings: EnhanceSettings) -> np.ndarray:
    """The ControlNet input of a render: ``[H' x W' x 3]`` float32 in {0, 1}, the Canny edges
    of the render resized to :func:`control_size`."""
    size = control_size(rgb.shape[0], rgb.shape[1], settings.resolution)
    edges = canny_edges(resize_to(rgb, *size), settings.low_threshold, settings.high_threshold)
    return np.repeat(edges[..., None], 3, axis=2).astype(np.float32) / 255.0


def image_seed(seed: int, scene_id: int, im_id: int) -> int:
    """Seed of image ``(scene_id, im_id)``: a function of the three only (order-free, so a
    resumed or partial run draws the same noise)."""
    return int(np.random.SeedSequence([seed, scene_id, im_id]).generate_state(1)[0])


def image_prompt(categories: Sequence[str | None], settings: EnhanceSettings, seed: int) -> str:
    """``"mug and bottle, best quality, extremely detailed"``: the distinct categories of the
    image's objects in annotation order (``None`` -> ``"object"``, ``_`` -> space), each with
    a colour drawn from ``seed`` when ``colour_prompts``; just the quality prompt without
    objects."""
    names = list(dict.fromkeys((c or "object").replace("_", " ") for c in categories))
    if settings.colour_prompts:
        rng = np.random.default_rng(seed)
        names = [f"{COLOURS[int(rng.integers(len(COLOURS)))]} {n}" for n in names]
    return ", ".join([" and ".join(names), settings.quality_prompt] if names else
                     [settings.quality_prompt])  # fmt: skip


class ControlNetEnhancer:
    """Enhances renders with a loaded ``StableDiffusionControlNetPipeline``.

    Args:
        pipe: the pipeline (:func:`~.controlnet_loading.load_controlnet_pipeline`, or one
            built from components; its scheduler should be DDIM).
        settings: :class:`EnhanceSettings`.
    """

    def __init__(self, pipe: Any, settings: EnhanceSettings | None = None) -> None:
        self.pipe = pipe
        self.settings = settings or EnhanceSettings()

    @classmethod
    def from_pretrained(cls, base: str, controlnet: str, settings: EnhanceSettings | None = None,
                        device: str = "cpu", fp16: bool | None = None,
                        cache_dir: str | None = None) -> ControlNetEnhancer:  # fmt: skip
        """Load the pipeline from local files
        (:func:`~.controlnet_loading.load_controlnet_pipeline`; ``fp16`` None: float16 on CUDA,
        float32 elsewhere)."""
        import torch

        from offline_training.diffusion.controlnet_loading import load_controlnet_pipeline

        dtype = None if fp16 is None else (torch.float16 if fp16 else torch.float32)
        return cls(load_controlnet_pipeline(base, controlnet, device, dtype, cache_dir), settings)

    def enhance(
        self, rgbs: Sequence[np.ndarray], prompts: Sequence[str], seeds: Sequence[int]
    ) -> list[np.ndarray]:
        """Enhanced images, one pipeline call for the batch.

        Args:
            rgbs: ``[H x W x 3]`` uint8 renders, all of one size.
            prompts: one prompt per image; seeds: one noise seed per image (>= 0).

        Returns:
            ``[H x W x 3]`` uint8 images of the renders' size.
        """
        import torch

        if not len(rgbs) == len(prompts) == len(seeds) or not rgbs:
            raise InputError(f"need as many prompts and seeds as images (>= 1), got "
                             f"{len(rgbs)}, {len(prompts)}, {len(seeds)}")  # fmt: skip
        sizes = {rgb.shape for rgb in rgbs}
        if len(sizes) != 1:
            raise InputError(f"the images of a batch must share one size, got {sorted(sizes)}")
        s = self.settings
        controls = np.stack([control_image(rgb, s) for rgb in rgbs])  # [B x H' x W' x 3]
        height, width = controls.shape[1:3]
        generators = [torch.Generator("cpu").manual_seed(int(seed)) for seed in seeds]
        with torch.inference_mode():
            out = self.pipe(
                prompt=list(prompts), image=torch.from_numpy(controls).permute(0, 3, 1, 2),
                height=height, width=width, num_inference_steps=s.steps,
                guidance_scale=s.guidance_scale, negative_prompt=[s.negative_prompt] * len(rgbs),
                eta=s.eta, generator=generators, output_type="np",
                controlnet_conditioning_scale=s.conditioning_scale,
            )  # fmt: skip
        h, w = rgbs[0].shape[:2]
        images = np.clip(np.round(np.asarray(out.images, np.float32) * 255.0), 0, 255)
        return [resize_to(img.astype(np.uint8), h, w, cv2.INTER_LINEAR) for img in images]
