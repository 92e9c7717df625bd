"""The parameter table of :mod:`.params` declared on a node: descriptors, checked reads, and
the set-parameters callback.

:class:`NodeParams` declares every :class:`~.params.Param` (plus ``tracking.*``, ``fusion.*`` and
``models.<category>.*`` for each entry of ``categories``) with a ``ParameterDescriptor``
(description, range, choices); a bad value in the params file fails start-up with the reason.
A floating-point parameter also takes an integer (``-p tracking.max_age_s:=2``, ``max_age_s: 2``
in a params file), which rclpy's typing by the default would refuse.
At run time a change is refused with the reason when the name is unknown, the value fails
:meth:`~.params.Param.check`, the ``tracking.*`` (``fusion.*``) values together fail
:meth:`~ros_pose_estimation.pipeline.track_config.TrackFilterConfig.validate`, or the parameter
cannot change in the node's state (:meth:`~.params.Param.refusal`: ``configure`` parameters while
:attr:`~NodeParams.configured`, ``activate`` ones while :attr:`~NodeParams.active`). Accepted
changes go to the node's ``apply`` function (names changed -> rebuild what depends on them) once
they are set, so ``live`` parameters take effect at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import yaml
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from ros_pose_estimation.conversions.tf import check_frame_id
from ros_pose_estimation.core.errors import ConfigError, PoseEstimationError
from ros_pose_estimation.node.params import (
    MODEL_PARAMS,
    PARAMS,
    Param,
    group_params,
    model_param,
)
from ros_pose_estimation.node.pipeline_factory import fusion_config, tracking_config


def descriptor(param: Param) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` ``param`` is declared with (``read_only`` stays False: the
    node refuses changes itself, only in the states where they cannot apply)."""
    suffix = {"configure": " (fixed while configured)", "activate": " (fixed while active)"}
    text = param.description + suffix.get(param.applies, "")
    desc = ParameterDescriptor(description=text, read_only=False)
    if param.choices:
        desc.additional_constraints = "one of: " + ", ".join(param.choices)
    if param.kind is float:
        # rclpy types a parameter by its default and refuses ``-p name:=2`` or ``name: 2`` in a
        # params file for a double; the node's own check (Param.check, at declaration and in
        # the set-parameters callback) takes any number, converts it and refuses the rest
        desc.dynamic_typing = True
    if param.kind is float and param.low is not None and param.high is not None:
        desc.floating_point_range = [
            FloatingPointRange(from_value=float(param.low), to_value=float(param.high))
        ]
    if param.kind is int and param.low is not None and param.high is not None:
        desc.integer_range = [
            IntegerRange(from_value=int(param.low), to_value=int(param.high), step=1)
        ]
    if param.kind is list:
        desc.type = ParameterType.PARAMETER_STRING_ARRAY
    return desc


#: parameters every rclpy node has, or that rclpy reads itself
_RCLPY_NAMES = ("use_sim_time", "start_type_description_service")
_RCLPY_PREFIXES = ("qos_overrides.",)


def unknown_overrides(overrides, known: set[str], categories: list[str]) -> dict[str, str]:
    """The names among ``overrides`` (a node's parameter overrides: params file and ``-p``)
    that are not in ``known`` nor rclpy's own, each with what to check: the closest known
    names, or, for ``models.<c>.*`` of a category not in ``categories``, that it needs one."""
    unknown = {}
    for name in sorted(overrides):
        if name in known or name in _RCLPY_NAMES or name.startswith(_RCLPY_PREFIXES):
            continue
        parts = name.split(".")
        if parts[0] == "models" and len(parts) == 3 and parts[1] not in categories:
            unknown[name] = (f"{parts[1]!r} is not in categories {categories}: add it there "
                             "to load its model")  # fmt: skip
            continue
        close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
        unknown[name] = (f"did you mean {' or '.join(repr(c) for c in close)}?" if close
                         else "see config/pose.yaml for the node's parameters")  # fmt: skip
    return unknown


def command_line_params(argv: list[str], node_name: str) -> dict[str, str]:
    """``name -> text`` of the last ``-p`` / ``--param NAME:=VALUE`` for each parameter in the
    ``--ros-args`` sections of ``argv``, for this node (a ``node:name`` rule of another node is
    left out)."""
    found, in_ros, i = {}, False, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--ros-args":
            in_ros = True
        elif arg == "--":
            in_ros = False
        elif in_ros and arg in ("-p", "--param") and i + 1 < len(argv):
            i += 1
            rule, sep, text = argv[i].partition(":=")
            if sep:
                node, _, name = rule.rpartition(":")
                if node in ("", node_name, "/" + node_name):
                    found[name] = text
        i += 1
    return found


def dropped_overrides(argv: list[str], node_name: str, params: dict[str, Param],
                      value: Callable[[str], Any]) -> dict[str, str]:  # fmt: skip
    """``name -> why`` for each ``-p`` of ``argv`` (:func:`command_line_params`) that did not
    become the parameter's value ``value(name)``: rcl silently drops a ``-p`` whose type differs
    from a params file's value for the same name, and a ``--params-file`` given after a ``-p``
    overrides it. Unknown names are left to :func:`unknown_overrides`."""
    dropped = {}
    for name, text in command_line_params(argv, node_name).items():
        param = params.get(name)
        if param is None:
            continue
        try:
            wanted = param.check(yaml.safe_load(text))
        except (yaml.YAMLError, PoseEstimationError):
            wanted = None  # applied, it would have stopped start-up
        now = value(name)
        if wanted is not None and wanted == now:
            continue
        why = ("a --params-file after it sets the parameter: put -p after --params-file"
               if wanted is not None else
               f"rcl drops a -p value that is not of the parameter's type ({param.kind.__name__})"
               " when a params file sets the parameter")  # fmt: skip
        dropped[name] = f"-p {name}:={text} was not applied ({name} is {now!r}): {why}"
    return dropped


class NodeParams:
    """Declares the table on ``node`` and registers the set-parameters callbacks.

    ``configured`` / ``active`` (set by the node in its lifecycle transitions) make
    ``configure`` / ``activate`` parameters refuse changes. ``apply(names)`` (optional) is
    called with the names of every accepted change after the new values are set.

    Raises:
        ConfigError: a declared value (params file, overrides) fails its check.
    """

    def __init__(self, node: Any, apply: Callable[[set[str]], None] | None = None) -> None:
        self._node = node
        self._params: dict[str, Param] = {}
        for param in PARAMS + group_params():
            self._declare(param)
        for category in self.value("categories"):
            for param in MODEL_PARAMS:
                self._declare(model_param(category, param.name))
        self.configured = False
        self.active = False
        self._apply = apply
        #: names given (params file, ``-p``) that the node does not have, each with its likely
        #: meaning; logged once, since ROS ignores them without a word
        self.unknown = unknown_overrides(
            getattr(node, "_parameter_overrides", {}), set(self._params), self.value("categories")
        )
        for name, hint in self.unknown.items():
            node.get_logger().warning(f"parameter {name!r} is not one of this node's and is "
                                      f"ignored: {hint}")  # fmt: skip
        node.add_on_set_parameters_callback(self._on_set_parameters)
        node.add_post_set_parameters_callback(self._on_parameters_set)

    def warn_dropped(self, argv: list[str]) -> dict[str, str]:
        """Log (warning) each ``-p`` of ``argv`` that ROS did not apply
        (:func:`dropped_overrides`); returns them."""
        dropped = dropped_overrides(argv, self._node.get_name(), self._params, self.value)
        for message in dropped.values():
            self._node.get_logger().warning(message)
        return dropped

    def _declare(self, param: Param) -> None:
        self._params[param.name] = param
        try:
            declared = self._node.declare_parameter(param.name, param.default, descriptor(param))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            # rclpy's own range / type check of the descriptor: same message style as check()
            raise ConfigError(f"parameter {param.name!r}: {exc}") from exc
        param.check(declared.value)  # a bad value in the params file fails start-up

    def value(self, name: str) -> Any:
        """The current value of ``name``, checked and converted to its type."""
        return self._params[name].check(self._node.get_parameter(name).value)

    def _on_set_parameters(self, changes) -> SetParametersResult:
        new = {}
        for change in changes:
            param = self._params.get(change.name)
            if param is None:
                return SetParametersResult(successful=False,
                                           reason=f"unknown parameter {change.name!r}")
            reason = param.refusal(self.configured, self.active)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
            try:
                new[change.name] = param.check(change.value)
            except PoseEstimationError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        checks = {"tracking.": tracking_config, "fusion.": fusion_config}
        for prefix, check in checks.items():
            if any(name.startswith(prefix) for name in new):
                try:  # the group's values are valid together, not only one by one
                    check(lambda name: new[name] if name in new else self.value(name))
                except PoseEstimationError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        if "fixed_frame" in new:
            try:
                check_frame_id("fixed_frame", new["fixed_frame"])
            except PoseEstimationError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_parameters_set(self, changes) -> None:
        names = {change.name for change in changes}
        if self._apply is not None and names:
            self._apply(names)
