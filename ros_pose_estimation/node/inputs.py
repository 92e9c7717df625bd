"""The node's input subscriptions under the ``input_qos`` policy of :mod:`.input_qos`.

:class:`InputSubscriptions` takes the node (like tf2_ros' helpers) and owns the input
subscriptions: :meth:`~InputSubscriptions.add` subscribes with the reliability the policy wants
for the topic's current publishers, :meth:`~InputSubscriptions.check` (the node calls it every
:data:`.input_qos.CHECK_PERIOD_S`) re-subscribes an ``auto`` input whose publishers changed
their offer, and warns once per change when publishers cannot reach a fixed ``reliable``
subscription. Nothing here runs per message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ros_pose_estimation.node import input_qos


@dataclass
class _Input:
    msg_type: type
    topic: str  # as given (relative), remappable
    callback: Callable[[Any], None]
    reliability: str | None  # what the subscription was made with (None: RMW default)
    subscription: Any
    warned: int = 0  # incompatible publishers last warned about


class InputSubscriptions:
    """Input subscriptions of ``node`` under ``mode`` (one of :data:`.input_qos.INPUT_QOS`)."""

    def __init__(self, node: Any, mode: str) -> None:
        input_qos.wanted_reliability(mode, ())  # ValueError on an unknown mode
        self._node = node
        self.mode = mode
        self._inputs: list[_Input] = []

    @property
    def topics(self) -> list[str]:
        """Fully qualified names of the subscribed topics."""
        return [i.subscription.topic_name for i in self._inputs]

    @property
    def reliabilities(self) -> dict[str, str]:
        """Topic -> ``reliable`` / ``best_effort`` / ``system_default`` as subscribed now."""
        return {i.subscription.topic_name: i.reliability or "system_default"
                for i in self._inputs}  # fmt: skip

    def add(self, msg_type: type, topic: str, callback: Callable[[Any], None]) -> None:
        """Subscribe to ``topic`` (relative names resolve in the node's namespace)."""
        resolved = self._node.resolve_topic_name(topic)
        offered = input_qos.offered_reliabilities(self._node, resolved)
        reliability = input_qos.wanted_reliability(self.mode, offered)
        sub = self._subscribe(msg_type, topic, callback, reliability)
        self._inputs.append(_Input(msg_type, topic, callback, reliability, sub))

    def _subscribe(self, msg_type, topic, callback, reliability):
        return self._node.create_subscription(msg_type, topic, callback,
                                              input_qos.profile(reliability))  # fmt: skip

    def check(self) -> None:
        """Follow the publishers' offers (``auto``) or warn about unreachable ones."""
        log = self._node.get_logger()
        for item in self._inputs:
            topic = item.subscription.topic_name
            offered = input_qos.offered_reliabilities(self._node, topic)
            if self.mode == "auto":
                wanted = input_qos.wanted_reliability("auto", offered)
                if wanted != item.reliability:
                    self._node.destroy_subscription(item.subscription)
                    item.subscription = self._subscribe(item.msg_type, item.topic, item.callback,
                                                        wanted)  # fmt: skip
                    offers = ", ".join(sorted(set(offered))) or "nothing (no publisher)"
                    text = (f"input {topic}: publishers offer {offers}; re-subscribed {wanted} "
                            f"(was {item.reliability})")  # fmt: skip
                    if wanted == input_qos.BEST_EFFORT:
                        log.warning(text + ": a best-effort image is lost whenever one of its "
                                    "fragments is (large images, busy machine); make the "
                                    "publisher reliable to receive every frame")  # fmt: skip
                    else:
                        log.info(text)
                    item.reliability = wanted
                continue
            blocked = input_qos.incompatible(item.reliability, offered)
            if blocked and blocked != item.warned:
                log.warning(f"input {topic}: {blocked} publisher(s) offer only best effort and "
                            f"cannot reach this node's reliable subscription "
                            f"(input_qos: {self.mode}); set input_qos:=auto or sensor_data, or "
                            "make the publisher reliable")  # fmt: skip
            item.warned = blocked

    def destroy(self) -> None:
        for item in self._inputs:
            self._node.destroy_subscription(item.subscription)
        self._inputs = []
