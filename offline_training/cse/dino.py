"""A frozen DINO ViT (Caron et al. 2021) that reads the official checkpoints: dense descriptors.

Used by the CSE trainer's cross-instance cycle (paper 003 Sec. 3.3, :mod:`.instance_pairs`): the
2D pairs between crops of two different instances come from these descriptors, as in Goodwin et
al. 2022 (which paper 003 follows). Training-only: nothing under ``ros_pose_estimation/`` imports
this module.

Architecture (what the official ``dino_*_pretrain.pth`` backbone files hold): a ``P x P`` patch
embedding (conv, stride ``P``), a cls token, a learned position embedding for the pretraining
grid (224 / P per side) interpolated bicubically to the input's grid, ``depth`` pre-norm blocks
(LayerNorm eps 1e-6 -> multi-head self-attention with a qkv bias, 64 channels per head ->
residual; LayerNorm -> MLP with exact GELU -> residual) and a final LayerNorm. Every size is read
from the file: embed dim from ``patch_embed.proj.weight`` ``[D x 3 x P x P]`` (also the patch
size ``P``), depth from the ``blocks.{i}`` keys, heads = ``D / 64``, MLP width from ``fc1``.

Descriptors (:meth:`DinoViT.descriptors`) are the **keys** of the last block's attention (all
heads concatenated, cls token dropped), L2-normalised per patch. Keys rather than output tokens
because Amir et al. 2021 ("Deep ViT features as dense visual descriptors"), whose descriptors
Goodwin et al. use, found the deepest layer's keys the best facet for semantic matching across
instances (tokens carry more position and less part identity); they also need only the last
block's ``norm1`` + ``qkv``, not its attention. Input: RGB in [0, 1], ImageNet mean/std
normalised here.

No network access ever: the weights file must be downloaded by the user (see :data:`DINO_FILES`).
"""

from __future__ import annotations

import math
import os
import re

import torch
import torch.nn.functional as F
from torch import nn

from ros_pose_estimation.core.checkpoint_file import load_tensors
from ros_pose_estimation.core.errors import CheckpointError, InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HEAD_DIM = 64
URL_ROOT = "https://dl.fbaipublicfiles.com/dino"

#: The official backbone-only files (facebookresearch/dino README), by (embed dim, patch size).
DINO_FILES: dict[tuple[int, int], str] = {
    (384, 8): "dino_deitsmall8_pretrain",  # ViT-S/8, what Goodwin et al. use
    (384, 16): "dino_deitsmall16_pretrain",
    (768, 8): "dino_vitbase8_pretrain",
    (768, 16): "dino_vitbase16_pretrain",
}


def dino_url(name: str = "dino_deitsmall8_pretrain") -> str:
    """Download address of an official DINO backbone file (``name`` without ``.pth``)."""
    return f"{URL_ROOT}/{name}/{name}.pth"


def download_hint(path: str) -> str:
    """What to do when no usable DINO file is at ``path`` (nothing is downloaded here)."""
    return (
        f"download the DINO ViT-S/8 backbone on a machine with internet access, e.g. "
        f"`wget {dino_url()}` (or dino_deitsmall16 / dino_vitbase8 / dino_vitbase16 from the "
        f"facebookresearch/dino README: {URL_ROOT}/<name>/<name>.pth), and put the file at "
        f"{path} (or pass its location to --instance-pairs)"
    )


class PatchEmbed(nn.Module):
    """``[B x 3 x H x W]`` -> ``[B x (H/P * W/P) x D]`` row-major patch tokens."""

    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention, one fused ``qkv`` projection (with bias) + output ``proj``."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``[B x N x D]`` -> q, k, v each ``[B x heads x N x D/heads]``."""
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(x)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(64)) v
        return self.proj(out.transpose(1, 2).flatten(2))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class DinoViT(nn.Module):
    """DINO ViT backbone (no head).

    Args:
        dim: embedding width ``D`` (a multiple of 64). depth: number of blocks.
        patch: patch side ``P`` (px). pos_grid: side of the pretraining position grid
            (224 / P for the official files). hidden: MLP width (4 D in the official files).
    """

    def __init__(self, dim: int, depth: int, patch: int, pos_grid: int, hidden: int) -> None:
        super().__init__()
        if dim % HEAD_DIM or depth < 1 or patch < 1 or pos_grid < 1:
            raise CheckpointError(f"not a DINO ViT layout: dim {dim} (multiple of {HEAD_DIM}), "
                                  f"depth {depth}, patch {patch}, grid {pos_grid}")  # fmt: skip
        self.dim, self.depth, self.patch, self.pos_grid = dim, depth, patch, pos_grid
        self.heads = dim // HEAD_DIM
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pos_grid * pos_grid, dim))
        self.patch_embed = PatchEmbed(dim, patch)
        self.blocks = nn.ModuleList(Block(dim, self.heads, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def position(self, gh: int, gw: int) -> torch.Tensor:
        """``[1 x 1 + gh * gw x D]`` position embedding for a ``gh x gw`` patch grid."""
        if (gh, gw) == (self.pos_grid, self.pos_grid):
            return self.pos_embed
        g, d = self.pos_grid, self.dim
        grid = self.pos_embed[:, 1:].reshape(1, g, g, d).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([self.pos_embed[:, :1], grid.flatten(2).transpose(1, 2)], 1)

    def _embed(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised ``[B x 3 x H x W]`` (H, W multiples of P) -> ``[B x 1 + N x D]``."""
        b, _, h, w = images.shape
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], 1)
        return x + self.position(h // self.patch, w // self.patch)

    def prepare(self, images: torch.Tensor, grid: int) -> torch.Tensor:
        """RGB ``[B x 3 x S x S]`` in [0, 1] -> resized to ``grid * P`` and ImageNet-normalised."""
        if images.ndim != 4 or images.shape[1] != 3 or grid < 1:
            raise InputError(f"DINO input: expected [B x 3 x S x S] and grid >= 1, got "
                             f"{tuple(images.shape)}, grid {grid}")  # fmt: skip
        side = grid * self.patch
        if images.shape[-2:] != (side, side):
            shrink = images.shape[-1] > side
            images = F.interpolate(images, size=(side, side), mode="bilinear",
                                   align_corners=False, antialias=shrink)  # fmt: skip
        return (images - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised images -> final tokens ``[B x 1 + N x D]`` (cls first; after ``norm``)."""
        x = self._embed(images)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    @torch.no_grad()
    def descriptors(self, images: torch.Tensor, grid: int) -> torch.Tensor:
        """RGB crops ``[B x 3 x S x S]`` in [0, 1] -> ``[B x grid x grid x D]`` unit descriptors.

        The crops are resized to ``grid * P`` px so that patch ``(r, c)`` covers crop px
        ``[c, c + 1) * S / grid`` (x) and ``[r, r + 1) * S / grid`` (y)."""
        x = self._embed(self.prepare(images, grid))
        for block in self.blocks[:-1]:
            x = block(x)
        last = self.blocks[-1]
        _, k, _ = last.attn.split(last.norm1(x))
        keys = k.transpose(1, 2).flatten(2)[:, 1:]  # [B x N x D], heads concatenated
        return F.normalize(keys, dim=-1).reshape(images.shape[0], grid, grid, self.dim)


def _layout(state: dict, source: str) -> tuple[int, int, int, int, int]:
    """``(dim, depth, patch, pos_grid, hidden)`` read from a state dict's shapes."""
    need = ("patch_embed.proj.weight", "pos_embed", "cls_token", "blocks.0.mlp.fc1.weight")
    absent = [k for k in need if k not in state]
    if absent:
        raise CheckpointError(f"{source} is not a DINO ViT backbone: no {', '.join(absent)}")
    w = state["patch_embed.proj.weight"]
    if w.ndim != 4 or w.shape[1] != 3 or w.shape[2] != w.shape[3]:
        raise CheckpointError(f"{source}: patch_embed.proj.weight must be [D x 3 x P x P], "
                              f"got {tuple(w.shape)}")  # fmt: skip
    dim, patch = int(w.shape[0]), int(w.shape[2])
    tokens = int(state["pos_embed"].shape[1]) - 1 if state["pos_embed"].ndim == 3 else -1
    pos_grid = math.isqrt(max(tokens, 0))
    if tokens < 1 or pos_grid * pos_grid != tokens:
        raise CheckpointError(f"{source}: pos_embed must be [1 x 1 + G*G x D], got "
                              f"{tuple(state['pos_embed'].shape)}")  # fmt: skip
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    hidden = int(state["blocks.0.mlp.fc1.weight"].shape[0])
    return dim, depth, patch, pos_grid, hidden


def build_dino(state: dict, source: str = "state dict") -> DinoViT:
    """A frozen :class:`DinoViT` (eval, no gradients) from an official DINO backbone state dict.

    Raises:
        CheckpointError: not a backbone state dict, or keys / shapes that do not match the
            layout its own shapes imply (strict); the message names the first offenders.
    """
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        extra = ""
        if isinstance(state, dict) and ("teacher" in state or "student" in state):
            extra = " (this looks like a full DINO training checkpoint; use the backbone-only "
            extra += "*_pretrain.pth file)"
        raise CheckpointError(f"{source}: expected a DINO ViT state dict of tensors{extra}")
    model = DinoViT(*_layout(state, source))
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = [
            f"{len(keys)} {label} keys (first: {', '.join(keys[:5])})"
            for label, keys in (("missing", missing), ("unexpected", unexpected))
            if keys
        ]
        parts += [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong[:5]]
        raise CheckpointError(f"{source} does not fit a DINO ViT: {'; '.join(parts)}")  # fmt: skip
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model


def load_dino(path: str | os.PathLike) -> DinoViT:
    """Load an official DINO backbone file (``torch.load(weights_only=True)``, strict keys).

    Raises:
        CheckpointError: missing, unreadable or not a DINO ViT backbone; the message says which
            file to download and where to put it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"DINO weights not found: {path}; {download_hint(path)}")
    state = load_tensors(path, f"DINO weights; {download_hint(path)}")
    try:
        return build_dino(state, path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; {download_hint(path)}") from exc
