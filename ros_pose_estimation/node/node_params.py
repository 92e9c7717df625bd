"""The parameter table of :mod:`.params` declared on a node: descriptors, checked reads, and
the set-parameters callback.

:class:`NodeParams` declares every :class:`~.params.Param` (plus ``tracking.*``, and
``models.<category>.*`` for each entry of ``categories``) with a ``ParameterDescriptor``
(description, range, choices); a bad value in the params file fails start-up with the reason.
At run time a change is refused with the reason when the name is unknown, the value fails
:meth:`~.params.Param.check`, or the parameter is read-only while the node is
:attr:`~NodeParams.configured`; any other change applies to the next frame.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

from ros_pose_estimation.core.errors import ConfigError, PoseEstimationError
from ros_pose_estimation.node.params import (
    MODEL_PARAMS,
    PARAMS,
    Param,
    model_param,
    tracking_params,
)


def descriptor(param: Param) -> ParameterDescriptor:
    """The ``ParameterDescriptor`` ``param`` is declared with (``read_only`` stays False: the
    node refuses read-only changes itself, only while configured)."""
    text = param.description + (" (fixed while configured)" if param.read_only else "")
    desc = ParameterDescriptor(description=text, read_only=False)
    if param.choices:
        desc.additional_constraints = "one of: " + ", ".join(param.choices)
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


class NodeParams:
    """Declares the table on ``node`` and registers the set-parameters callback.

    ``configured`` (set by the node on configure, cleared on cleanup) makes read-only
    parameters refuse changes; ``node.pipeline`` not None makes an accepted change log that it
    applies to the next frame.

    Raises:
        ConfigError: a declared value (params file, overrides) fails its check.
    """

    def __init__(self, node: Any) -> None:
        self._node = node
        self._params: dict[str, Param] = {}
        for param in PARAMS + tracking_params():
            self._declare(param)
        for category in self.value("categories"):
            for param in MODEL_PARAMS:
                self._declare(model_param(category, param.name))
        self.configured = False
        node.add_on_set_parameters_callback(self._on_set_parameters)

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
        for change in changes:
            param = self._params.get(change.name)
            if param is None:
                return SetParametersResult(successful=False,
                                           reason=f"unknown parameter {change.name!r}")
            if param.read_only and self.configured:
                return SetParametersResult(
                    successful=False,
                    reason=f"{change.name} is fixed while the node is configured (models, device "
                    "and inputs are set up from it); deactivate + cleanup, set it, configure",
                )  # fmt: skip
            try:
                param.check(change.value)
            except PoseEstimationError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        if self._node.pipeline is not None:
            self._node.get_logger().info("parameters changed; applied to the next frame")
        return SetParametersResult(successful=True)
