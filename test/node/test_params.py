"""The node's parameter table: types, ranges, choices, and config/pose.yaml documents it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from ros_pose_estimation.core.errors import ConfigError
from ros_pose_estimation.node.params import MODEL_PARAMS, PARAMS, Param, find, model_param

ROOT = Path(__file__).resolve().parents[2]


def test_every_parameter_has_a_description_and_a_valid_default():
    names = [p.name for p in PARAMS]
    assert len(names) == len(set(names))
    for param in PARAMS + MODEL_PARAMS:
        assert len(param.description) > 15, param.name
        param.check(param.default)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("slop", -0.1, "outside the allowed range"),
        ("slop", float("nan"), "finite"),
        ("queue_size", 2.5, "integer"),
        ("queue_size", 0, "outside the allowed range"),
        ("mode", "rgbdx", "one of rgb, rgbd"),
        ("publish_tf", 1, "true/false"),
        ("categories", "mug", "list of strings"),
        ("min_score", "high", "a number"),
    ],
)
def test_bad_values_are_refused_with_the_reason(name, value, message):
    with pytest.raises(ConfigError, match=message):
        find(name).check(value)


def test_numbers_are_converted_to_the_parameter_type():
    assert find("slop").check(1) == 1.0 and isinstance(find("slop").check(1), float)
    assert find("queue_size").check(3.0) == 3


def test_model_params_are_namespaced_per_category():
    param = model_param("mug", "checkpoint")
    assert param.name == "models.mug.checkpoint" and param.read_only
    with pytest.raises(KeyError):
        model_param("mug", "nope")


def test_config_yaml_documents_and_sets_valid_values():
    from ros_pose_estimation.node.params import flat_parameters, group_params

    text = (ROOT / "config" / "pose.yaml").read_text()
    params = yaml.safe_load(text)["/**"]["ros__parameters"]

    values = flat_parameters(params)
    table: dict[str, Param] = {p.name: p for p in PARAMS + group_params()}
    for category in values["categories"]:
        for p in MODEL_PARAMS:
            table[f"models.{category}.{p.name}"] = model_param(category, p.name)
    assert set(values) == set(table), set(values) ^ set(table)
    for name, value in values.items():
        table[name].check(value)
        leaf = name.rsplit(".", 1)[-1]
        # every entry carries a comment on its line or the line above
        assert re.search(rf"#[^\n]*\n\s*{leaf}:|{leaf}:[^\n]*#", text), name


@pytest.mark.parametrize(
    "name", ["pose.yaml", "pose_coco.yaml", "pose_rgbd.yaml", "pose_rgbd_coco.yaml"]
)
def test_config_yaml_says_when_each_parameter_applies(name):
    """The comment block above each node / tracking / fusion parameter says "fixed" (read on
    configure) or "fixed while active" (read on activate) exactly when the table says so."""
    from ros_pose_estimation.node.params import group_params

    lines = (ROOT / "config" / name).read_text().splitlines()
    groups = {g: lines.index(f"    {g}:") for g in ("tracking", "fusion")}
    checked = 0
    for param in PARAMS + group_params():
        group, _, leaf = param.name.rpartition(".")
        if group:  # inside its block: from `    <group>:` to the next 4-space key
            start = groups[group]
            end = next((i for i in range(start + 1, len(lines))
                        if re.match(r"    \S", lines[i]) and not lines[i].strip().startswith("#")),
                       len(lines))  # fmt: skip
            rows = [i for i in range(start, end) if lines[i].startswith(f"      {leaf}:")]
        else:
            rows = [i for i, line in enumerate(lines[: min(groups.values())])
                    if line.startswith(f"    {leaf}:")]  # fmt: skip
        (row,) = rows
        comment, i = [], row - 1
        while i >= 0 and lines[i].strip().startswith("#"):
            comment.insert(0, lines[i].strip())
            i -= 1
        said = " ".join(comment)
        expected = {"configure": "fixed", "activate": "fixed while active", "live": ""}
        if param.applies == "live":
            assert "fixed" not in said, param.name
        else:
            assert said.endswith(expected[param.applies]), (param.name, said)
            assert param.applies == "activate" or "while active" not in said, param.name
        checked += 1
    assert checked == len(PARAMS) + len(group_params())


def test_parameter_reader_gives_file_values_defaults_and_checks():
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.node.params import flat_parameters, parameter_reader

    values = flat_parameters({"slop": 0.1, "models": {"mug": {"checkpoint": "m.pt"}},
                              "tracking": {"patience": 4}})  # fmt: skip
    assert values == {"slop": 0.1, "models.mug.checkpoint": "m.pt", "tracking.patience": 4}
    value = parameter_reader(values)
    assert value("slop") == 0.1 and value("models.mug.checkpoint") == "m.pt"
    assert value("queue_size") == find("queue_size").default
    assert value("tracking.patience") == 4
    with pytest.raises(ConfigError):
        parameter_reader({"slop": -1.0})("slop")
    with pytest.raises(KeyError):
        value("nope")
