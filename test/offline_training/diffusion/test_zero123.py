"""Zero-1-to-3 generator on tiny random models (configs of shared/notes/diffusion.md, built by
``benchmarks.zero123_tiny``) saved in both published folder layouts: loading offline, and the
maths and data flow of the sampler."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from benchmarks.zero123_tiny import LAYOUTS, save_tiny_zero123
from offline_training.diffusion.generators import ObjectImage, ViewGenerator
from offline_training.diffusion.views import RelativeView, zero123_pose_vector
from offline_training.diffusion.zero123 import Zero123Generator
from offline_training.diffusion.zero123_loading import (
    CLIP_MEAN,
    CLIP_STD,
    DEFAULT_SCHEDULER,
)
from offline_training.diffusion.zero123_preprocess import (
    output_mask,
    preprocess_object,
)
from ros_pose_estimation.core.errors import CheckpointError, ConfigError, InputError

ROOT = Path(__file__).resolve().parents[3]
SIZE = 48  # generated side: 24 x 24 latents with the tiny VAE (factor 2); CLIP resizes to 32
FAST = {"steps": 2, "image_size": SIZE}
VIEWS = [RelativeView(30.0, 15.0), RelativeView(-45.0, -30.0, radius=0.2), RelativeView(90, 0)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("zero123")
    return {layout: save_tiny_zero123(base / layout, layout) for layout in LAYOUTS}


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 and any socket connection fails."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def generator(folders) -> Zero123Generator:
    return Zero123Generator(folders["cc_projection"], device="cpu", **FAST)


def _object(elevation: float | None = None) -> ObjectImage:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    mask = np.zeros((40, 52), bool)
    mask[8:30, 10:44] = True
    rgb[mask] = (200, 40, 60)
    rgb[12:20, 20:30] = (20, 120, 220)
    return ObjectImage(rgb=rgb, mask=mask, name="box", elevation_deg=elevation)


def _reference_inputs(gen: Zero123Generator, obj: ObjectImage):
    """The test's own computation of the CLIP embedding ``[1 x 32]`` and the unscaled input
    latent ``[1 x 4 x 24 x 24]`` of the published recipe."""
    framed = preprocess_object(obj.rgb, obj.mask, size=SIZE)
    x = torch.from_numpy(framed).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    clip = F.interpolate(x, size=(32, 32), mode="bicubic", align_corners=True)
    clip = ((clip + 1) / 2 - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[
        :, None, None
    ]
    with torch.no_grad():
        embedding = gen.parts.image_encoder(pixel_values=clip).image_embeds
        latent = gen.parts.vae.encode(x).latent_dist.mode()
    return embedding, latent


# --- preprocessing and output mask -----------------------------------------------------------


def test_preprocessing_centres_the_object_on_white():
    obj = _object()
    framed = preprocess_object(obj.rgb, obj.mask, size=64, object_size=50)
    assert framed.shape == (64, 64, 3) and framed.dtype == np.uint8
    # the 22 x 34 crop becomes 32 x 50, pasted at ((64 - 50) // 2, (64 - 32) // 2) = (7, 16)
    outside = np.ones((64, 64), bool)
    outside[16:48, 7:57] = False
    assert (framed[outside] == 255).all(), "background (and the noise around the mask) not white"
    rows, cols = np.nonzero((framed < 250).any(axis=2))
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 47, 7, 56)
    np.testing.assert_allclose(framed[44, 10], (200, 40, 60), atol=12)  # object colour kept
    default = preprocess_object(obj.rgb, obj.mask)  # 256 canvas, 200 px long side
    cols = np.nonzero((default < 250).any(axis=2).any(axis=0))[0]
    assert cols.max() - cols.min() + 1 == 200 and cols.min() == 28
    with pytest.raises(InputError, match="empty"):
        preprocess_object(obj.rgb, np.zeros_like(obj.mask))


def test_output_mask_thresholds_white_drops_specks_and_fills_holes():
    rgb = np.full((64, 64, 3), 250, np.uint8)
    rgb[10:40, 10:40] = (30, 90, 250)  # blue: only its red/green channels are dark
    rgb[20:25, 20:25] = 255  # a white highlight inside
    rgb[55, 55] = 0  # a speck
    mask = output_mask(rgb, threshold=20)
    expected = np.zeros((64, 64), bool)
    expected[10:40, 10:40] = True
    np.testing.assert_array_equal(mask, expected)


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["cc_projection", "clip_camera_projection"])
def test_both_layouts_load_offline_into_float32(folders, offline, layout):
    gen = Zero123Generator(folders[layout], device="cpu", **FAST)
    linear = gen.parts.projection.projection
    assert (linear.in_features, linear.out_features) == (36, 32)
    assert gen.dtype == torch.float32 and linear.weight.dtype == torch.float32
    if layout == "clip_camera_projection":  # fp16 on disk: values are the fp16 ones, exactly
        from safetensors.torch import load_file

        saved = load_file(str(folders[layout] / layout / "diffusion_pytorch_model.safetensors"))
        assert saved["proj.weight"].dtype == torch.float16
        torch.testing.assert_close(linear.weight, saved["proj.weight"].float(), rtol=0, atol=0)
    assert gen.parts.clip_size == 32 and gen.parts.vae_scale_factor == 2
    out = gen.generate(_object(), VIEWS[:1])
    assert out[0].rgb.shape == (SIZE, SIZE, 3) and out[0].mask.shape == (SIZE, SIZE)


def test_hub_id_is_read_from_the_local_cache_only(folders, tmp_path, offline):
    snapshot = tmp_path / "models--kxic--zero123-xl" / "snapshots" / "0123abcd"
    shutil.copytree(folders["cc_projection"], snapshot)
    (tmp_path / "models--kxic--zero123-xl" / "refs").mkdir()
    (tmp_path / "models--kxic--zero123-xl" / "refs" / "main").write_text("0123abcd")
    gen = Zero123Generator("kxic/zero123-xl", cache_dir=str(tmp_path), **FAST)
    assert gen.parts.projection.projection.in_features == 36
    with pytest.raises(CheckpointError, match="not in the local hub cache.*kxic/zero123-xl"):
        Zero123Generator("ashawkey/zero123-xl-diffusers", cache_dir=str(tmp_path))


def test_missing_or_incomplete_weights_say_what_to_download(folders, tmp_path, offline):
    with pytest.raises(CheckpointError, match=r"does not exist.*hf download kxic/zero123-xl"):
        Zero123Generator(tmp_path / "nowhere")
    partial = tmp_path / "partial"
    shutil.copytree(folders["cc_projection"], partial, ignore=shutil.ignore_patterns("*.bin"))
    shutil.rmtree(partial / "vae")
    with pytest.raises(CheckpointError) as info:
        Zero123Generator(partial)
    message = str(info.value)
    assert "vae/" in message and "cc_projection/" in message and "unet/" not in message
    assert "ashawkey/zero123-xl-diffusers" in message


def test_importing_the_generator_does_not_import_diffusers():
    code = (
        "import sys, offline_training.diffusion.zero123\n"
        "print(','.join(m for m in ('diffusers', 'transformers', 'huggingface_hub')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""


# --- conditioning and sampling ---------------------------------------------------------------


def test_schedule_is_ldm_uniform_ddim():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(DEFAULT_SCHEDULER)
    scheduler.set_timesteps(50)
    np.testing.assert_array_equal(scheduler.timesteps.numpy(), np.arange(981, 0, -20))


def test_pose_vector_and_clip_embedding_reach_the_projection(generator):
    obj = _object()
    seen = []
    handle = generator.parts.projection.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].clone())
    )
    try:
        generator.generate(obj, VIEWS)
    finally:
        handle.remove()
    (x,) = seen
    assert x.shape == (3, 1, 36)
    poses = np.stack([zero123_pose_vector(v) for v in VIEWS])
    np.testing.assert_allclose(x[:, 0, 32:].numpy(), poses, rtol=0, atol=1e-7)
    np.testing.assert_allclose(
        poses[1], [np.deg2rad(30), -np.sqrt(0.5), np.sqrt(0.5), 0.2], atol=1e-6
    )
    embedding, _ = _reference_inputs(generator, obj)
    torch.testing.assert_close(x[:, 0, :32], embedding.expand(3, -1), rtol=1e-4, atol=1e-5)


def test_stable_zero123_puts_the_input_polar_angle_fourth(generator):
    stable = generator.with_settings(variant="stable-zero123")
    assert stable.settings.guidance == 5.0 and generator.settings.guidance == 3.0
    poses = stable.pose_vectors(_object(elevation=20.0), VIEWS[:2]).numpy()
    np.testing.assert_allclose(poses[:, 3], np.deg2rad(70.0), atol=1e-6)
    np.testing.assert_allclose(poses[:, :3], generator.pose_vectors(_object(), VIEWS[:2])[:, :3])
    with pytest.raises(ConfigError, match="elevation_deg"):
        stable.generate(_object(), VIEWS[:1])
    with pytest.raises(ConfigError, match="variant"):
        generator.with_settings(variant="zero123++")
    with pytest.raises(ConfigError, match="unknown Zero123Settings fields"):
        generator.with_settings(guidance=2.0)


def test_unet_input_context_guidance_and_decoding(generator, monkeypatch):
    """Every step: the UNet sees [uncond, cond] with zeros for the context and the input latent
    in the uncond half, the cond half gets cat(noisy latent, unscaled input latent) and the
    projected token; the scheduler gets u + 3 (c - u); the VAE decodes latents / 0.18215."""
    parts, obj, b = generator.parts, _object(), 2
    calls, contexts, steps, decoded = [], [], [], []
    hooks = [
        parts.projection.register_forward_hook(lambda m, a, out: contexts.append(out.clone())),
        parts.unet.register_forward_hook(
            lambda m, args, kwargs, out: calls.append(
                (args[0].clone(), kwargs["encoder_hidden_states"].clone(), out.sample.clone())
            ),
            with_kwargs=True,
        ),
    ]
    step, decode = parts.scheduler.step, parts.vae.decode

    def spy_step(eps, t, x, **kwargs):
        out = step(eps, t, x, **kwargs)
        steps.append((eps.clone(), out))
        return out

    def spy_decode(z):
        decoded.append(z.clone())
        return decode(z)

    monkeypatch.setattr(parts.scheduler, "step", spy_step)
    monkeypatch.setattr(parts.vae, "decode", spy_decode)
    try:
        generator.sample(obj, VIEWS[:b])
    finally:
        for h in hooks:
            h.remove()
    _, latent = _reference_inputs(generator, obj)
    assert len(calls) == len(steps) == 2 and len(decoded) == 1
    for (sample, context, eps), (to_scheduler, _) in zip(calls, steps, strict=True):
        assert sample.shape == (2 * b, 8, SIZE // 2, SIZE // 2)
        torch.testing.assert_close(sample[:b, :4], sample[b:, :4], rtol=0, atol=0)
        assert (sample[:b, 4:] == 0).all() and (context[:b] == 0).all()
        torch.testing.assert_close(sample[b:, 4:], latent.expand(b, -1, -1, -1))
        torch.testing.assert_close(context[b:], contexts[0], rtol=0, atol=0)
        u, c = eps[:b], eps[b:]
        torch.testing.assert_close(to_scheduler, u + 3.0 * (c - u))
    assert parts.vae.config.scaling_factor == pytest.approx(0.18215)
    torch.testing.assert_close(decoded[0], steps[-1][1].prev_sample / 0.18215)


def test_guidance_one_runs_the_conditional_branch_only(generator):
    calls = []
    handle = generator.parts.unet.register_forward_pre_hook(
        lambda m, args, kwargs: calls.append(kwargs["encoder_hidden_states"].shape),
        with_kwargs=True,
    )
    try:
        generator.with_settings(guidance_scale=1.0).sample(_object(), VIEWS[:2])
    finally:
        handle.remove()
    assert calls == [(2, 1, 32)] * 2


def test_seeded_reproducible_and_views_differ(generator):
    obj, views = _object(), VIEWS[:2]
    first, again = (generator.generate(obj, views[:1], seed=7)[0] for _ in range(2))
    np.testing.assert_array_equal(first.rgb, again.rgb)
    np.testing.assert_array_equal(first.mask, again.mask)
    same = generator.sample(obj, views, seed=7)
    torch.testing.assert_close(generator.sample(obj, views, seed=7), same, rtol=0, atol=0)
    assert (generator.sample(obj, views[:1], seed=8)[0] - same[0]).abs().max() > 1e-3
    # the same noise (seed 7, index 0) with another pose vector gives another image
    assert (generator.sample(obj, views[1:], seed=7)[0] - same[0]).abs().max() > 1e-4
    # each view's noise depends on (seed, index) only, not on the batch split
    one_by_one = generator.with_settings(batch_size=1).sample(obj, views, seed=7)
    torch.testing.assert_close(one_by_one, same, rtol=0, atol=1e-4)


def test_generate_follows_the_contract(generator):
    assert isinstance(generator, ViewGenerator) and generator.name == "zero123"
    out = generator.generate(_object(), VIEWS)
    assert [g.view for g in out] == VIEWS
    for g in out:
        assert g.rgb.dtype == np.uint8 and g.rgb.shape == (SIZE, SIZE, 3)
        assert g.mask.dtype == bool and g.mask.shape == (SIZE, SIZE)
    assert generator.generate(_object(), []) == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_on_cuda(folders):
    gen = Zero123Generator(folders["clip_camera_projection"], device="cuda", **FAST)
    assert gen.dtype == torch.float16
    images = gen.sample(_object(), VIEWS, seed=3)
    assert torch.isfinite(images).all()
    torch.testing.assert_close(images, gen.sample(_object(), VIEWS, seed=3))
