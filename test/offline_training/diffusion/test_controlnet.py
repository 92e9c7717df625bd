"""ControlNet (canny) enhancement on tiny random models (shared/notes/diffusion.md configs) saved
and loaded back offline: the control image, prompts and settings that reach the models, and the
enhanced BOP dataset (labels, masks and depth carried over byte for byte, only RGB replaced,
reproducible, resumable); missing weights say what to download. Nothing touches the network."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from benchmarks.controlnet_tiny import save_tiny_controlnet
from offline_training.diffusion.controlnet import (
    COLOURS,
    NEGATIVE_PROMPT,
    ControlNetEnhancer,
    EnhanceSettings,
    control_image,
    control_size,
    image_prompt,
    image_seed,
)
from offline_training.diffusion.controlnet_loading import resolve_weights
from offline_training.diffusion.enhance_cli import main
from offline_training.diffusion.enhance_dataset import default_out, enhance_dataset
from offline_training.synthetic.bop_reader import BopDataset
from offline_training.synthetic.dataset import DatasetConfig, generate_dataset
from ros_pose_estimation.core.errors import CheckpointError, ConfigError

FAST = {"resolution": 64, "steps": 2}  # 96 x 72 renders -> 64 x 64 control images


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def bop_root(tmp_path_factory):
    """4 renders (96 x 72) of mugs and bottles from the data engine."""
    root = tmp_path_factory.mktemp("controlnet") / "bop"
    generate_dataset(DatasetConfig(["mug", "bottle"], root, images=4, width=96, height=72,
                                   instances=2), progress=False)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_controlnet(tmp_path_factory.mktemp("weights"), latent_stride=2)


@pytest.fixture(scope="module")
def full_run(bop_root, weights, tmp_path_factory):
    """The whole split enhanced once, at the fast settings."""
    enhancer = ControlNetEnhancer.from_pretrained(*map(str, weights), EnhanceSettings(**FAST))
    out = tmp_path_factory.mktemp("full") / "bop_enhanced"
    return out, enhance_dataset(bop_root, out, enhancer, progress=False)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "enhance_info.json"}  # fmt: skip


def test_published_settings_sizes_prompts_and_seeds():
    s = EnhanceSettings()
    assert (s.resolution, s.steps, s.eta, s.guidance_scale, s.conditioning_scale) == (
        512, 30, 0.0, 9.0, 1.0)  # fmt: skip
    assert (s.low_threshold, s.high_threshold, s.negative_prompt) == (150, 200, NEGATIVE_PROMPT)
    assert control_size(240, 320) == (512, 704) and control_size(72, 96) == (512, 704)
    assert control_size(480, 640) == (512, 704) and control_size(512, 512) == (512, 512)
    assert control_size(72, 96, 64) == (64, 64) and control_size(600, 300) == (1024, 512)
    assert image_prompt(["mug"], s, 0) == "mug, best quality, extremely detailed"
    assert image_prompt(["mug", "bottle", "mug"], s, 0).startswith("mug and bottle, best")
    assert image_prompt([None], s, 0).startswith("object, ")
    coloured = EnhanceSettings(colour_prompts=True)
    prompt = image_prompt(["mug"], coloured, 7)
    assert prompt.split()[0] in COLOURS and prompt == image_prompt(["mug"], coloured, 7)
    assert image_seed(0, 0, 3) == image_seed(0, 0, 3) != image_seed(0, 0, 4) != image_seed(1, 0, 4)
    with pytest.raises(ConfigError, match="low_threshold <= high_threshold"):
        EnhanceSettings(low_threshold=200, high_threshold=100)


def test_control_image_is_the_canny_map_of_the_resized_render(bop_root):
    rgb = BopDataset(bop_root, load_masks=False)[0].rgb
    control = control_image(rgb, EnhanceSettings())
    resized = cv2.resize(rgb, (704, 512), interpolation=cv2.INTER_LANCZOS4)
    edges = cv2.Canny(resized, 150, 200).astype(np.float32) / 255.0
    assert control.shape == (512, 704, 3) and control.dtype == np.float32
    for c in range(3):
        np.testing.assert_array_equal(control[..., c], edges)
    assert 0.005 < edges.mean() < 0.5  # the render has edges, not everywhere


def test_the_controlnet_sees_the_edge_map_prompt_and_settings(bop_root, weights):
    settings = EnhanceSettings(resolution=80, steps=2)  # 96 x 72 -> 64 x 128 (64-multiples)
    enhancer = ControlNetEnhancer.from_pretrained(*map(str, weights), settings)
    pipe = enhancer.pipe
    assert type(pipe.scheduler).__name__ == "DDIMScheduler" and pipe.safety_checker is None
    seen, texts = [], []

    def on_controlnet(_module, args, kwargs):
        seen.append((kwargs["controlnet_cond"].clone(), kwargs["conditioning_scale"]))

    def on_text(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        texts.extend(pipe.tokenizer.batch_decode(ids, skip_special_tokens=True))

    sample = BopDataset(bop_root, load_masks=False)[0]
    hooks = [pipe.controlnet.register_forward_pre_hook(on_controlnet, with_kwargs=True),
             pipe.text_encoder.register_forward_pre_hook(on_text, with_kwargs=True)]  # fmt: skip
    try:
        out = enhancer.enhance([sample.rgb], ["mug and bottle, best quality"], [5])[0]
    finally:
        for h in hooks:
            h.remove()
    expected = torch.from_numpy(control_image(sample.rgb, settings)).permute(2, 0, 1)
    assert len(seen) == settings.steps  # one ControlNet call per step, both CFG branches in it
    for cond, scale in seen:
        assert cond.shape == (2, 3, 64, 128) and scale == 1.0
        torch.testing.assert_close(cond[0], expected, rtol=0, atol=0)  # unconditional branch
        torch.testing.assert_close(cond[1], expected, rtol=0, atol=0)  # prompt branch
    squashed = [t.replace(" ", "") for t in texts]  # the byte-level tokenizer spaces words
    assert "mugandbottle,bestquality" in squashed
    assert any(t.startswith("longbody,lowres,badanatomy") for t in squashed)  # negative prompt
    assert out.shape == sample.rgb.shape and out.dtype == np.uint8  # size restored


def test_enhanced_dataset_keeps_labels_masks_depth_and_replaces_rgb(bop_root, full_run):
    out, summary = full_run
    assert (summary.written, summary.skipped, summary.total) == (4, 0, 4)
    src, dst = _files(bop_root), _files(out)
    assert sorted(src) == sorted(dst)
    rgb = [k for k in src if "/rgb/" in k]
    assert len(rgb) == 4
    for name in src:
        if name in rgb:
            assert src[name] != dst[name], name  # replaced
        else:
            assert src[name] == dst[name], name  # labels, masks, depth, models: same bytes
    a, b = BopDataset(bop_root), BopDataset(out)
    for x, y in zip(a, b, strict=True):
        assert y.rgb.shape == x.rgb.shape and not np.array_equal(y.rgb, x.rgb)
        np.testing.assert_array_equal(y.depth, x.depth)
        for ox, oy in zip(x.objects, y.objects, strict=True):
            np.testing.assert_array_equal(oy.R, ox.R)
            np.testing.assert_array_equal(oy.mask_visib, ox.mask_visib)
    info = json.loads((out / "enhance_info.json").read_text())
    assert info["source"] == str(bop_root.resolve()) and info["splits"]["train"]["steps"] == 2
    assert default_out(bop_root) == bop_root.resolve().with_name("bop_enhanced")


def test_partial_runs_are_valid_reproducible_and_resume(bop_root, weights, full_run, tmp_path):
    full = _files(full_run[0])
    enhancer = ControlNetEnhancer.from_pretrained(*map(str, weights), EnhanceSettings(**FAST))
    out = tmp_path / "partial"
    first = enhance_dataset(bop_root, out, enhancer, max_images=2, progress=False)
    assert (first.written, first.total) == (2, 2)
    assert len(BopDataset(out)) == 2  # the JSON files list exactly the images done
    done = sorted(out.glob("train/*/rgb/*"))
    assert [p.name for p in done] == ["000000.png", "000001.png"]
    stamps = [p.stat().st_mtime_ns for p in done]
    for p in done:  # same seed -> same images, whatever the run they were made in
        assert p.read_bytes() == full[str(p.relative_to(out))]
    second = enhance_dataset(bop_root, out, enhancer, batch_size=2, progress=False)
    assert (second.written, second.skipped) == (2, 2)
    assert [p.stat().st_mtime_ns for p in done] == stamps  # not redone
    now = _files(out)
    assert sorted(now) == sorted(full)
    assert all(now[k] == full[k] for k in now if "/rgb/" not in k)  # JSON complete again
    other = ControlNetEnhancer(enhancer.pipe, EnhanceSettings(**FAST, seed=1))
    with pytest.raises(ConfigError, match="seed differ"):
        enhance_dataset(bop_root, out, other, progress=False)
    again = enhance_dataset(bop_root, tmp_path / "seed1", other, max_images=1, progress=False)
    assert again.written == 1
    new = (tmp_path / "seed1/train/000000/rgb/000000.png").read_bytes()
    assert new != full["train/000000/rgb/000000.png"]


def test_missing_weights_say_what_to_download_and_where(weights, tmp_path):
    empty = str(tmp_path / "cache")
    with pytest.raises(CheckpointError, match=r"not in the local hub cache.*hf download "
                       r"stable-diffusion-v1-5/stable-diffusion-v1-5 .*--base "):  # fmt: skip
        resolve_weights("stable-diffusion-v1-5/stable-diffusion-v1-5", "base", empty)
    with pytest.raises(
        CheckpointError,
        match=r"hf download lllyasviel/sd-controlnet-canny "
        r"config.json diffusion_pytorch_model.safetensors.*--controlnet ",
    ):
        resolve_weights("lllyasviel/sd-controlnet-canny", "controlnet", empty)
    with pytest.raises(CheckpointError, match="folder './nowhere' does not exist"):
        resolve_weights("./nowhere", "controlnet")
    base = tmp_path / "base"
    shutil.copytree(weights[0], base)
    (base / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(
        CheckpointError,
        match=r"incomplete, missing: unet/diffusion_pytorch_"
        r"model.safetensors or unet/diffusion_pytorch_model.bin; download",
    ):
        resolve_weights(base, "base")
    assert resolve_weights(weights[1], "controlnet") == weights[1]


def test_cli_enhances_and_reports_errors_with_exit_code_2(bop_root, weights, tmp_path, capsys):
    fast = ["--resolution", "64", "--steps", "2", "--no-progress"]
    ok = ["--data", str(bop_root), "--base", str(weights[0]), "--controlnet", str(weights[1]),
          "--out", str(tmp_path / "cli"), "--max-images", "1", "--link", *fast]  # fmt: skip
    assert main(ok) == 0
    assert "enhanced 1 images" in capsys.readouterr().out
    assert len(BopDataset(tmp_path / "cli")) == 1
    mask = "train/000000/mask_visib/000000_000000.png"  # --link: the same file, not a copy
    assert (tmp_path / "cli" / mask).stat().st_ino == (bop_root / mask).stat().st_ino
    cases = {
        "hf download stable-diffusion-v1-5": ["--data", str(bop_root), "--cache-dir",
                                              str(tmp_path / "none"), *fast],
        "has no split 'val'": ["--data", str(bop_root), "--split", "val"],
        "does not exist": ["--data", str(tmp_path / "nope")],
    }  # fmt: skip
    for message, argv in cases.items():
        assert main(argv) == 2, message
        err = capsys.readouterr().err
        assert err.startswith("enhance-dataset: error: ") and message in err, err


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fp16_on_cuda(bop_root, weights):
    enhancer = ControlNetEnhancer.from_pretrained(*map(str, weights), EnhanceSettings(**FAST),
                                                  device="cuda")  # fmt: skip
    assert enhancer.pipe.unet.dtype == torch.float16
    rgb = BopDataset(bop_root, load_masks=False)[0].rgb
    a = enhancer.enhance([rgb], ["mug"], [3])[0]
    assert a.shape == rgb.shape and np.array_equal(a, enhancer.enhance([rgb], ["mug"], [3])[0])
