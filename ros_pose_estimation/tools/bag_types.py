"""The ``rosbags`` typestore that deserialises one bag: its own definitions over a default store.

rosbag2 bags (MCAP, sqlite3 from version 8) record the definition of every message type they
hold; older bags and some writers do not. :func:`bag_typestore` registers the bag's definitions
over a default store (rosbags' newest ROS 2 store, or the one a caller passes, e.g.
:func:`offline_training.ros_types.typestore` with vision_msgs), so a bag recorded with other
definitions than the default's still decodes, and a bag without any still can. ``rosbags`` is
imported inside the function (a data dependency).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ros_pose_estimation.tools.bag_errors import BagError

_IDL_SEPARATOR = "=" * 80 + "\n"


def _parse(rosbags_typesys, msgtype: str, fmt: str, text: str) -> dict:
    """Types (name -> field definitions) of one recorded definition (``fmt``: 'msg' / 'idl')."""
    if fmt == "msg":
        return rosbags_typesys.get_types_from_msg(text, msgtype)
    types: dict = {}
    if text.startswith(f"{_IDL_SEPARATOR}IDL: "):  # one IDL file per dependency
        for part in text.split(_IDL_SEPARATOR)[1:]:
            types.update(rosbags_typesys.get_types_from_idl(part.split("\n", 1)[1]))
    else:
        types.update(rosbags_typesys.get_types_from_idl(text))
    return types


def bag_typestore(path: Path, definitions: Iterable[tuple[str, str, str]], default: Any = None):
    """The typestore for a bag's messages.

    Args:
        path: the bag (for error messages).
        definitions: ``(msgtype, format, text)`` per connection; format ``'MSG'`` /
            ``'ros2msg'``, ``'IDL'`` / ``'ros2idl'``, anything else for none.
        default: typestore for the types the bag does not define (None: rosbags' newest).

    Returns:
        ``default`` itself when the bag defines nothing it lacks or defines differently, else a
        new store with the bag's definitions over ``default``'s.

    Raises:
        BagError: a recorded definition does not parse and ``default`` lacks that type.
    """
    from rosbags import typesys

    base = default if default is not None else typesys.get_typestore(typesys.Stores.LATEST)
    kinds = {"MSG": "msg", "ros2msg": "msg", "IDL": "idl", "ros2idl": "idl"}
    own: dict = {}
    for msgtype, fmt, text in definitions:
        kind = kinds.get(fmt)
        if kind is None or not text or msgtype in own:
            continue
        try:
            own.update(_parse(typesys, msgtype, kind, text))
        except typesys.TypesysError as exc:
            if msgtype not in base.fielddefs:
                raise BagError(f"{path}: the bag's definition of {msgtype} does not parse "
                               f"({exc}); pass a typestore that defines it") from None  # fmt: skip
            # else: the default store's definition of the type is used instead
    if all(base.fielddefs.get(name) == fields for name, fields in own.items()):
        return base
    store = typesys.get_typestore(typesys.Stores.EMPTY)
    store.register({**base.fielddefs, **own})
    return store
