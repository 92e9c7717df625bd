"""DINO ViT of the cross-instance pairs: the official file layout, strict loading, errors."""

import pytest
import torch
from torch import nn

from offline_training.cse.dino import DinoViT, build_dino, dino_url, load_dino
from ros_pose_estimation.core.errors import CheckpointError

URL_S8 = "https://dl.fbaipublicfiles.com/dino/dino_deitsmall8_pretrain/dino_deitsmall8_pretrain.pth"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_dino_state(seed: int = 0, dim: int = 64, depth: int = 2, patch: int = 8) -> dict:
    """A random ViT in the official layout (1 head of 64, 4 x 4 pretraining grid)."""
    torch.manual_seed(seed)
    vit = DinoViT(dim, depth, patch, pos_grid=4, hidden=2 * dim)
    nn.init.normal_(vit.pos_embed, std=0.5)
    nn.init.normal_(vit.cls_token, std=0.5)
    return {k: v.clone() for k, v in vit.state_dict().items()}


def tiny_dino_file(path, seed: int = 0) -> str:
    torch.save(tiny_dino_state(seed), path)
    return str(path)


def vit_s8_shapes() -> dict[str, tuple]:
    """The keys and shapes of dino_deitsmall8_pretrain.pth (ViT-S/8: 384 wide, 12 blocks,
    224 / 8 = 28 x 28 position grid + cls, MLP 1536), written out by hand."""
    d, h = 384, 1536
    shapes = {"cls_token": (1, 1, d), "pos_embed": (1, 1 + 28 * 28, d),
              "patch_embed.proj.weight": (d, 3, 8, 8), "patch_embed.proj.bias": (d,),
              "norm.weight": (d,), "norm.bias": (d,)}  # fmt: skip
    for i in range(12):
        p = f"blocks.{i}."
        shapes.update({
            p + "norm1.weight": (d,), p + "norm1.bias": (d,),
            p + "attn.qkv.weight": (3 * d, d), p + "attn.qkv.bias": (3 * d,),
            p + "attn.proj.weight": (d, d), p + "attn.proj.bias": (d,),
            p + "norm2.weight": (d,), p + "norm2.bias": (d,),
            p + "mlp.fc1.weight": (h, d), p + "mlp.fc1.bias": (h,),
            p + "mlp.fc2.weight": (d, h), p + "mlp.fc2.bias": (d,),
        })  # fmt: skip
    return shapes


def test_vit_s8_layout_is_read_from_the_file():
    shapes = vit_s8_shapes()
    vit = build_dino({k: torch.zeros(s) for k, s in shapes.items()}, "synthetic ViT-S/8")
    assert (vit.dim, vit.depth, vit.patch, vit.heads, vit.pos_grid) == (384, 12, 8, 6, 28)
    assert {k: tuple(v.shape) for k, v in vit.state_dict().items()} == shapes
    assert not any(p.requires_grad for p in vit.parameters()) and not vit.training


def test_block_matches_torch_pre_norm_encoder_layer():
    """Same maths as torch's own pre-norm transformer layer given the same weights."""
    vit = build_dino(tiny_dino_state(dim=128, depth=1))
    block = vit.blocks[0]
    ref = nn.TransformerEncoderLayer(
        128, 2, 256, dropout=0.0, activation="gelu", layer_norm_eps=1e-6, batch_first=True,
        norm_first=True,
    )  # fmt: skip
    pairs = [(block.attn.qkv.weight, ref.self_attn.in_proj_weight),
             (block.attn.qkv.bias, ref.self_attn.in_proj_bias),
             (block.attn.proj.weight, ref.self_attn.out_proj.weight),
             (block.attn.proj.bias, ref.self_attn.out_proj.bias)]  # fmt: skip
    for mine, theirs in ((block.mlp.fc1, ref.linear1), (block.mlp.fc2, ref.linear2),
                         (block.norm1, ref.norm1), (block.norm2, ref.norm2)):  # fmt: skip
        pairs += [(mine.weight, theirs.weight), (mine.bias, theirs.bias)]
    torch.manual_seed(1)
    with torch.no_grad():
        for mine, theirs in pairs:
            mine.add_(0.1 * torch.randn_like(mine))  # non-trivial norms and biases too
            theirs.copy_(mine)
    ref.train()  # the plain (not fused) path
    x = torch.randn(2, 17, 128)
    with torch.no_grad():
        torch.testing.assert_close(block(x), ref(x), atol=1e-5, rtol=1e-5)


def test_descriptors_are_unit_keys_on_any_grid():
    vit = build_dino(tiny_dino_state())
    images = torch.rand(2, 3, 40, 40)
    for grid in (4, 6):  # the pretraining grid and an interpolated one
        desc = vit.descriptors(images, grid)
        assert desc.shape == (2, grid, grid, 64) and not desc.requires_grad
        torch.testing.assert_close(desc.norm(dim=-1), torch.ones(2, grid, grid))
    same = vit.descriptors(images[[0, 0]], 6)
    torch.testing.assert_close(same[0], same[1])
    assert vit.position(4, 4) is vit.pos_embed and vit.position(6, 5).shape == (1, 31, 64)
    assert not torch.allclose(vit.descriptors(images, 6)[0], vit.descriptors(images, 6)[1])


def test_file_round_trip_and_no_extra_state(tmp_path):
    path = tiny_dino_file(tmp_path / "dino.pth")
    vit = load_dino(path)
    assert set(vit.state_dict()) == set(torch.load(path, weights_only=True))  # no mean/std
    again = build_dino(tiny_dino_state())
    images = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(vit.descriptors(images, 4), again.descriptors(images, 4))


def test_missing_file_says_what_to_download_and_where(tmp_path):
    target = tmp_path / "weights" / "dino_deitsmall8_pretrain.pth"
    with pytest.raises(CheckpointError) as err:
        load_dino(target)
    message = str(err.value)
    assert "not found" in message and URL_S8 in message and str(target) in message
    assert dino_url() == URL_S8


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: {**s, "head.weight": torch.zeros(10, 64)}, "1 unexpected keys"),
        (lambda s: {k: v for k, v in s.items() if k != "norm.bias"}, "1 missing keys"),
        (lambda s: {**s, "blocks.1.attn.qkv.weight": torch.zeros(96, 64)}, "attn.qkv.weight"),
        (lambda s: {"conv1.weight": torch.zeros(64, 3, 7, 7)}, "not a DINO ViT backbone"),
        (lambda s: {"teacher": s, "epoch": 100}, "backbone-only"),
        (lambda s: {**s, "pos_embed": torch.zeros(1, 20, 64)}, "pos_embed must be"),
    ],
)
def test_strict_loading_refuses_wrong_files(tmp_path, edit, expected):
    path = tmp_path / "wrong.pth"
    torch.save(edit(tiny_dino_state()), path)
    with pytest.raises(CheckpointError, match=expected) as err:
        load_dino(path)
    assert URL_S8 in str(err.value)


def test_unreadable_file_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "dino.pth"
    path.write_text("not a torch file")
    with pytest.raises(CheckpointError, match="not a readable torch file .expected DINO weights"):
        load_dino(path)
