"""ROS interface definitions this project needs but PyPI does not provide.

``vision_msgs`` (the 4.x messages of ROS 2 Jazzy/Kilted/Rolling) and ``tf2_msgs`` are not
published as ``ros-*`` wheels. Their definitions live here as package data:

* ``scripts/setup_env.sh`` generates the C/C++/Python bindings from them with rosidl when no
  system ROS provides the packages (installed into ``.ros_interfaces/install``);
* :func:`offline_training.ros_types.typestore` registers them with ``rosbags`` to read and
  write bags without any ROS install.

Field names, types, order, constants and defaults are identical to upstream's, so the
RIHS01 type hashes and the CDR wire format match the real packages; only the comments are
our own.
"""

from __future__ import annotations

from importlib import resources

__all__ = ["PACKAGES", "interface_names", "msg_definition"]

#: Interface packages defined here.
PACKAGES = ("tf2_msgs", "vision_msgs")


def _package_dir(package: str):
    if package not in PACKAGES:
        raise KeyError(f"unknown interface package {package!r}; known: {', '.join(PACKAGES)}")
    return resources.files(__name__).joinpath(package)


def interface_names(package: str, kind: str = "msg") -> list[str]:
    """Names (without extension) of the ``kind`` interfaces (msg, srv, action) of ``package``."""
    folder = _package_dir(package).joinpath(kind)
    if not folder.is_dir():
        return []
    suffix = f".{kind}"
    return sorted(p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix))


def msg_definition(package: str, name: str) -> str:
    """Text of the ``.msg`` definition ``package/msg/name`` (e.g. ``vision_msgs``, ``Pose2D``)."""
    path = _package_dir(package).joinpath("msg", f"{name}.msg")
    if not path.is_file():
        raise KeyError(f"no message {package}/msg/{name}")
    return path.read_text(encoding="utf-8")
