"""The shared checkpoint envelope: model payloads, envelope checks, the category check."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest
import torch

from ros_pose_estimation.core.checkpoint_file import (
    check_category,
    cpu_state,
    read_payload,
    write_model,
)
from ros_pose_estimation.core.errors import CheckpointError


@dataclass
class _Config:
    width: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.category, self.config = "mug", _Config()
        self.body = torch.nn.Linear(3, 2)
        self.head = torch.nn.Linear(2, 1)


def _read(path, version=1):
    return read_payload(path, "test/fmt", version, ("category", "config"), "Test", "train one")


def test_cpu_state_is_detached():
    model = _Model()
    state = cpu_state(model)
    assert set(state) == set(model.state_dict())
    assert all(not v.requires_grad and v.device.type == "cpu" for v in state.values())


def test_write_model_stores_the_envelope_and_each_part(tmp_path):
    model = _Model()
    path = write_model(tmp_path / "sub" / "m.pt", "test/fmt", 1, model,
                       {"body": model.body, "head": model.head}, {"step": 4})  # fmt: skip
    assert path == tmp_path / "sub" / "m.pt" and not (tmp_path / "sub" / "m.pt.tmp").exists()
    payload = _read(path)
    assert list(payload) == ["format", "format_version", "category", "config", "body", "head",
                             "meta"]  # fmt: skip
    assert payload["category"] == "mug" and payload["config"] == {"width": 3}
    assert payload["meta"] == {"step": 4}
    assert torch.equal(payload["head"]["weight"], model.head.weight.detach())
    write_model(tmp_path / "n.pt", "test/fmt", 1, model, {})  # no meta given: an empty one
    assert _read(tmp_path / "n.pt")["meta"] == {}


def test_envelope_errors_say_what_was_expected(tmp_path):
    path = write_model(tmp_path / "m.pt", "test/fmt", 2, _Model(), {"body": _Model().body})
    with pytest.raises(CheckpointError, match="format_version 2; .* reads versions <= 1"):
        _read(path)
    with pytest.raises(CheckpointError, match="not a Other checkpoint .*found 'test/fmt'"):
        read_payload(path, "other/fmt", 2, (), "Other", "train one")
    with pytest.raises(CheckpointError, match=r"lacks \['weights'\]"):
        read_payload(path, "test/fmt", 2, ("weights",), "Test", "train one")
    with pytest.raises(CheckpointError, match=r"does not exist \(train one or set"):
        _read(tmp_path / "none.pt")


def test_check_category():
    payload = {"category": "mug"}
    check_category("m.pt", payload, None)
    check_category("m.pt", payload, "mug")
    with pytest.raises(CheckpointError, match="m.pt is a model of category 'mug', but category "
                       "'bottle' was asked for"):  # fmt: skip
        check_category("m.pt", payload, "bottle")


def test_pickled_objects_are_refused_as_unsafe_without_advising_to_disable_the_check(tmp_path):
    import argparse

    import torch

    from ros_pose_estimation.core.checkpoint_file import load_tensors

    path = tmp_path / "model.pt"
    torch.save({"format": "x", "payload": argparse.Namespace(code=1)}, path)
    with pytest.raises(CheckpointError, match="is not a safe checkpoint") as info:
        load_tensors(path, "a NeMo checkpoint of this project")
    message = str(info.value)
    assert "weights_only" not in message and "False" not in message
    assert "expected a NeMo checkpoint of this project" in message
    torch.save({"w": torch.ones(2)}, path)
    assert torch.equal(load_tensors(path, "anything")["w"], torch.ones(2))


def test_an_unwritable_path_is_an_os_error_naming_it_and_leaves_no_temporary_file(tmp_path):
    from ros_pose_estimation.core.checkpoint_file import write_payload

    with pytest.raises(IsADirectoryError, match="it is a directory"):
        write_payload(tmp_path, {"a": 1})
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match="or a folder above it is a file"):
        write_payload(tmp_path / "afile" / "m.pt", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
    assert write_payload(tmp_path / "new" / "m.pt", {"a": 1}).is_file()
