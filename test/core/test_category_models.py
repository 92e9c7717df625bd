"""The per-category model table shared by the estimators."""

from __future__ import annotations

import pytest
import torch

from ros_pose_estimation.core.category_models import load_by_category, models_by_category
from ros_pose_estimation.core.errors import ConfigError


class _Model(torch.nn.Module):
    def __init__(self, category: str) -> None:
        super().__init__()
        self.category = category
        self.weight = torch.nn.Parameter(torch.zeros(1))


def test_keys_are_canonical_names_and_models_are_in_eval_mode():
    model = _Model("mug").train()
    table = models_by_category({"MUG": model}, torch.device("cpu"), "Est")
    assert list(table) == ["mug"] and not table["mug"].training


def test_empty_table_and_mismatched_key_are_refused():
    with pytest.raises(ConfigError, match="Est needs at least one category model"):
        models_by_category({}, torch.device("cpu"), "Est")
    with pytest.raises(ConfigError, match="model under key 'bottle' is of category 'mug'"):
        models_by_category({"bottle": _Model("mug")}, torch.device("cpu"), "Est")


def test_two_checkpoints_of_one_category_are_refused():
    def load(path, device):
        return _Model("mug"), {}

    assert list(load_by_category(["a.pt"], load, "cpu")) == ["mug"]
    with pytest.raises(ConfigError, match="two checkpoints of category 'mug' \\(b.pt\\)"):
        load_by_category(["a.pt", "b.pt"], load, "cpu")
