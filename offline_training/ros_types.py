"""``rosbags`` typestore with every message type this project reads or writes.

``rosbags`` ships the standard ROS 2 messages (std_msgs, sensor_msgs, geometry_msgs,
tf2_msgs, ...) but not ``vision_msgs``. :func:`typestore` adds them (and ``tf2_msgs`` if the
chosen store lacks it) from the definitions in :mod:`ros_pose_estimation.interfaces`, which
are identical to upstream's, so bags written with it are readable by real ROS 2 tools and
vice versa.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from ros_pose_estimation.interfaces import interface_names, msg_definition

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

__all__ = ["STORE_PREFERENCE", "typestore"]

#: rosbags stores tried in order; the first one the installed rosbags knows is used.
STORE_PREFERENCE = ("ROS2_KILTED", "ROS2_JAZZY", "ROS2_HUMBLE")


def _base_store() -> Typestore:
    from rosbags.typesys import Stores, get_typestore

    for name in STORE_PREFERENCE:
        store = getattr(Stores, name, None)
        if store is not None:
            return get_typestore(store)
    raise RuntimeError(f"rosbags knows none of the stores {STORE_PREFERENCE}; upgrade rosbags")


@cache
def typestore() -> Typestore:
    """Return the shared typestore (ROS 2 Kilted if available) with vision_msgs registered.

    The result is cached: every caller gets the same object. Register further types on it
    only if they are meant to be visible project-wide.
    """
    from rosbags.typesys import get_types_from_msg

    store = _base_store()
    types = {}
    for package in ("tf2_msgs", "vision_msgs"):
        for name in interface_names(package, "msg"):
            typename = f"{package}/msg/{name}"
            if typename in store.fielddefs:
                continue
            types.update(get_types_from_msg(msg_definition(package, name), typename))
    store.register(types)
    return store
