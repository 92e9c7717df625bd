"""CSE trainer with the cross-instance cycle (L_inst): opt-in, frozen ViT, nothing else changes."""

import json

import pytest
import torch
from torch.utils.data import default_collate

from offline_training.cse import losses as L
from offline_training.cse.data import CseSequenceSet
from offline_training.cse.dino import build_dino
from offline_training.cse.train import CseTrainConfig
from offline_training.cse.train_cli import main
from offline_training.cse.train_step import StepContext, compute_losses
from ros_pose_estimation.cse.checkpoint import read_checkpoint
from ros_pose_estimation.cse.model import CseModel
from test.offline_training.test_cse_data import cse_root  # noqa: F401  (fixture)
from test.offline_training.test_cse_dino import tiny_dino_file, tiny_dino_state
from test.offline_training.test_cse_train import TINY_CLI

MODEL = {"backbone": "tiny", "crop_size": 64, "n_vertices": 150}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def batch(cse_root):  # noqa: F811
    """Two items of bottle tracks from different sequences."""
    ds = CseSequenceSet(cse_root, "bottle", views_per_layout=4, crop_size=64, min_visib_fract=0.3)
    first = ds.sequences[0]
    other = next(i for i, s in enumerate(ds.sequences) if s != first)
    out = default_collate([ds[(0, 1)], ds[(other, 2)]])
    assert out["sequence"][0] != out["sequence"][1]
    return out


def _losses(model, batch, cfg, dino=None):
    gen = torch.Generator().manual_seed(7)
    return compute_losses(model, batch, cfg, StepContext(model, dino), gen)


def test_inst_term_is_opt_in_and_changes_nothing_else(batch):
    cfg = CseTrainConfig(data="", category="bottle", out="", **MODEL)
    assert cfg.instance_pairs is None and L.DEFAULT_WEIGHTS["inst"] == 0.05
    torch.manual_seed(0)
    model = CseModel(cfg.model_config())
    off_total, off = _losses(model, batch, cfg)
    assert "inst" not in off and "inst_pairs" not in off
    dino = build_dino(tiny_dino_state())
    on_total, on = _losses(model, batch, cfg, dino)
    assert torch.isfinite(torch.tensor(on["inst"])) and on["inst"] > 0
    assert 0 < on["inst_pairs"] <= cfg.n_pairs
    for key in off:
        if key != "loss":
            assert on[key] == off[key], key  # every other term bit-identical
    assert on_total.item() == pytest.approx(off_total.item() + 0.05 * on["inst"], rel=1e-5)
    # the pairs look across sequences: a batch of one sequence has none, and the term is 0
    same = {**batch, "sequence": torch.zeros_like(batch["sequence"])}
    _, alone = _losses(model, same, cfg, dino)
    assert alone["inst_pairs"] == 0 and alone["inst"] == 0


def test_inst_term_trains_the_cse_model_not_the_vit(batch):
    cfg = CseTrainConfig(data="", category="bottle", out="", weights={"inst": 1.0}, **MODEL)
    torch.manual_seed(0)
    model = CseModel(cfg.model_config())
    dino = build_dino(tiny_dino_state())
    total, stats = _losses(model, batch, cfg, dino)
    assert total.item() == pytest.approx(stats["inst"])
    total.backward()
    grads = [p.grad.abs().sum() for p in model.parameters() if p.grad is not None]
    assert grads and sum(grads) > 0
    assert all(p.grad is None for p in dino.parameters())


def test_cli_run_logs_inst_and_keeps_the_vit_out_of_checkpoints(cse_root, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    weights = tiny_dino_file(tmp_path / "dino_tiny.pth")
    assert main(["--data", str(cse_root), "--category", "bottle", "--out", str(out), "--steps",
                 "2", "--log-every", "1", "--instance-pairs", weights, "--instance-grid", "8",
                 *TINY_CLI]) == 0  # fmt: skip
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all("inst" in r and "inst_pairs" in r for r in log)
    saved = read_checkpoint(out / "bottle.pt")
    fresh = CseModel(CseTrainConfig(data="", category="bottle", out="", **MODEL).model_config())
    assert set(saved["model"]) == set(fresh.state_dict())
    assert saved["meta"]["train_config"]["instance_pairs"] == weights
    resume = torch.load(out / "resume.pt", weights_only=True)
    assert set(resume["model"]) == set(fresh.state_dict())
    n_params = sum(len(g["params"]) for g in resume["optimizer"]["param_groups"])
    assert n_params == len(list(fresh.parameters()))


def test_cli_missing_dino_file_exits_2_with_the_download(cse_root, tmp_path, capsys):  # noqa: F811
    missing = tmp_path / "dino_deitsmall8_pretrain.pth"
    assert main(["--data", str(cse_root), "--category", "bottle", "--out", str(tmp_path / "o"),
                 "--steps", "1", "--instance-pairs", str(missing), *TINY_CLI]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "DINO weights not found" in err and "dl.fbaipublicfiles.com/dino" in err
    assert not (tmp_path / "o").exists()  # nothing started
    assert main(["--data", str(cse_root), "--category", "bottle", "--out", str(tmp_path / "g"),
                 "--instance-grid", "0", *TINY_CLI]) == 2  # fmt: skip
    assert "instance_grid must be >= 1" in capsys.readouterr().err
