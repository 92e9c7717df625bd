"""The QoS of the node's input subscriptions (parameter ``input_qos``).

Why it matters: a 640x480 rgb8 image is 0.9 MB and a 1280x720 one 2.7 MB, so DDS sends each in
many fragments. A BEST_EFFORT subscription loses the whole image when one fragment is lost and
nothing repairs it; on a loaded 2-core machine a best-effort subscriber got 35 of 40 640x480
images and 11 of 40 1280x720 ones from a reliable publisher at 5 Hz (Fast DDS 3.2, UDP, shared
memory or LARGE_DATA transport alike), a reliable one all 40 (BENCHMARKS.md, issue 13).
A RELIABLE subscription gets the lost fragments re-sent, but cannot match a publisher that only
offers BEST_EFFORT (the topic stays silent).

Choices:

* ``auto`` (default): per input topic, RELIABLE while every publisher offers RELIABLE (bag
  players, ``ros2 bag play``, most camera drivers by default), BEST_EFFORT as soon as one offers
  only BEST_EFFORT (drivers publishing with the sensor-data profile). Checked on activation and
  then every :data:`CHECK_PERIOD_S`; a change re-creates that subscription (logged).
* ``reliable``: always RELIABLE (KEEP_LAST :data:`DEPTH`); best-effort publishers never match
  (warned).
* ``sensor_data``: ``qos_profile_sensor_data`` (BEST_EFFORT, KEEP_LAST 5): matches every
  publisher, but large images get lost on a busy machine or network.
* ``system_default``: the RMW's defaults (RELIABLE with Fast DDS and Cyclone DDS).

The policy (:func:`wanted_reliability`, :func:`incompatible`) is pure; :func:`profile` and
:func:`offered_reliabilities` touch rclpy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

INPUT_QOS = ("auto", "reliable", "sensor_data", "system_default")
RELIABLE, BEST_EFFORT = "reliable", "best_effort"
#: KEEP_LAST depth of every input subscription (the synchroniser keeps its own queue).
DEPTH = 5
#: Seconds between two checks of the input topics' publishers.
CHECK_PERIOD_S = 1.0


def wanted_reliability(mode: str, offered: Iterable[str]) -> str | None:
    """The reliability an input should subscribe with under ``mode``, given what its
    publishers ``offered`` (each :data:`RELIABLE` or :data:`BEST_EFFORT`); None for
    ``system_default`` (the RMW decides).

    ``auto``: :data:`BEST_EFFORT` when any publisher offers only that, else :data:`RELIABLE`
    (also while there is no publisher: the bag player and most drivers are reliable).
    """
    if mode not in INPUT_QOS:
        raise ValueError(f"input_qos: expected one of {', '.join(INPUT_QOS)}, got {mode!r}")
    if mode == "auto":
        return BEST_EFFORT if BEST_EFFORT in set(offered) else RELIABLE
    return {"reliable": RELIABLE, "sensor_data": BEST_EFFORT}.get(mode)


def incompatible(subscribed: str | None, offered: Iterable[str]) -> int:
    """How many publishers cannot reach a subscription of reliability ``subscribed``: a
    RELIABLE subscription does not match BEST_EFFORT publishers (None: unknown, 0)."""
    if subscribed != RELIABLE:
        return 0
    return sum(1 for o in offered if o == BEST_EFFORT)


def profile(reliability: str | None) -> Any:
    """The rclpy ``QoSProfile`` of an input: :data:`RELIABLE` / :data:`BEST_EFFORT` with
    KEEP_LAST :data:`DEPTH`, VOLATILE (None: ``qos_profile_system_default``)."""
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_system_default,
    )

    if reliability is None:
        return qos_profile_system_default
    policy = ReliabilityPolicy.RELIABLE if reliability == RELIABLE else (
        ReliabilityPolicy.BEST_EFFORT)  # fmt: skip
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=DEPTH, reliability=policy,
                      durability=DurabilityPolicy.VOLATILE)  # fmt: skip


def offered_reliabilities(node: Any, topic: str) -> list[str]:
    """:data:`RELIABLE` / :data:`BEST_EFFORT` of every publisher of ``topic`` (a fully
    qualified name) in the ROS graph, as ``node`` sees it now (other values are left out)."""
    from rclpy.qos import ReliabilityPolicy

    names = {ReliabilityPolicy.RELIABLE: RELIABLE, ReliabilityPolicy.BEST_EFFORT: BEST_EFFORT}
    out = []
    for info in node.get_publishers_info_by_topic(topic):
        name = names.get(info.qos_profile.reliability)
        if name is not None:
            out.append(name)
    return out
