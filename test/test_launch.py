"""launch/pose.launch.py, checked without the `launch` package (not installable here).

The file is executed against small stand-ins of ``launch`` / ``launch_ros`` that record what
they are given; the test then checks that every executable, parameter and remapping the
launch file names exists in the package.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "pose.launch.py"


class _Recorder:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration(_Recorder):
    pass


def _fake_modules() -> dict[str, types.ModuleType]:
    mods = {name: types.ModuleType(name) for name in (
        "launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions",
        "launch_ros.substitutions")}  # fmt: skip
    mods["launch"].LaunchDescription = type("LaunchDescription", (_Recorder,), {})
    mods["launch.actions"].DeclareLaunchArgument = type("DeclareLaunchArgument", (_Recorder,), {})
    mods["launch.actions"].OpaqueFunction = type("OpaqueFunction", (_Recorder,), {})
    mods["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    mods["launch.substitutions"].PathJoinSubstitution = type("PathJoin", (_Recorder,), {})
    mods["launch_ros.actions"].Node = type("Node", (_Recorder,), {})
    mods["launch_ros.substitutions"].FindPackageShare = type("FindPackageShare", (_Recorder,), {})
    return mods


@pytest.fixture
def launch_module(monkeypatch):
    for name, module in _fake_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("pose_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def description(launch_module):
    return launch_module.generate_launch_description()


class _Context:
    """What an OpaqueFunction reads of the launch context: the arguments' values."""

    def __init__(self, **given):
        self.launch_configurations = given


def _nodes(description, **given) -> list:
    """The Node actions of ``description``, its OpaqueFunctions run with the arguments
    ``given`` on the command line (the others at their defaults)."""
    actions = description.args[0]
    defaults = {a.args[0]: a.kwargs["default_value"] for a in actions
                if type(a).__name__ == "DeclareLaunchArgument"}  # fmt: skip
    context = _Context(**{**defaults, **given})
    nodes = []
    for a in actions:
        if type(a).__name__ == "OpaqueFunction":
            nodes += a.kwargs["function"](context)
        elif type(a).__name__ == "Node":
            nodes.append(a)
    return [n for n in nodes if type(n).__name__ == "Node"]


def _console_scripts() -> set[str]:
    text = (ROOT / "setup.py").read_text()
    return set(re.findall(r'"([\w-]+) = [\w.]+:\w+"', text))


def test_launch_file_parses():
    ast.parse(LAUNCH.read_text())


def test_node_executable_parameters_and_remappings_exist(launch_module, description):
    from ros_pose_estimation.node.params import PARAMS

    actions = description.args[0]
    nodes = _nodes(description, mode="rgbd", device="cpu")
    declared = {a.args[0] for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    assert len(nodes) == 1
    node = nodes[0].kwargs
    assert node["package"] == "ros_pose_estimation"
    assert node["executable"] in _console_scripts()
    # every LaunchConfiguration refers to a declared argument
    used = set()

    def walk(value):
        if isinstance(value, LaunchConfiguration):
            used.add(value.args[0])
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    walk(list(node.values()))
    used |= set(launch_module.OPTIONAL_OVERRIDES)  # read from the context, not substituted
    assert used <= declared, used - declared
    assert declared <= used, declared - used  # no argument declared for nothing
    overrides = node["parameters"][1]
    assert overrides["mode"] == "rgbd" and overrides["device"] == "cpu"
    names = {p.name for p in PARAMS} | {"use_sim_time"}
    assert set(overrides) <= names
    # remapped names are exactly the node's input topics
    source = (ROOT / "ros_pose_estimation" / "node" / "pose_node.py").read_text()
    subscribed = set(re.findall(r'(?:create_subscription|inputs\.add)\(\s*\w+, "([\w/]+)"',
                                source))
    assert {src for src, _ in node["remappings"]} == subscribed


def test_default_params_file_is_installed():
    setup_py = (ROOT / "setup.py").read_text()
    assert "config/*.yaml" in setup_py and (ROOT / "config" / "pose.yaml").is_file()


def test_mode_and_device_come_from_the_params_file_unless_given(description):
    """`pose.launch.py params_file:=.../pose_rgbd.yaml` runs in that file's mode: rgbd (a
    default `mode:=rgb` on top of it made the node refuse its CSE models at configure)."""
    (node,) = _nodes(description)
    params_file, overrides = node.kwargs["parameters"]
    assert "mode" not in overrides and "device" not in overrides
    assert set(overrides) == {"use_sim_time"}
    (node,) = _nodes(description, mode="rgb")
    assert node.kwargs["parameters"][1]["mode"] == "rgb"
    import yaml

    modes = {f.name: yaml.safe_load(f.read_text())["/**"]["ros__parameters"]["mode"]
             for f in (ROOT / "config").glob("pose*.yaml")}  # fmt: skip
    assert modes == {"pose.yaml": "rgb", "pose_coco.yaml": "rgb", "pose_rgbd.yaml": "rgbd",
                     "pose_rgbd_coco.yaml": "rgbd"}
