"""The camera's pose in the fixed frame at an image stamp, from /tf (world-frame fusion).

:class:`CameraPoseSource` takes the node (like tf2_ros' helpers) and listens to TF:

* with ``tf2_ros`` importable (a ROS install): a ``tf2_ros.Buffer`` (10 s cache) and its
  ``TransformListener`` on the node; :meth:`~CameraPoseSource.lookup` is
  ``Buffer.lookup_transform(fixed, camera, stamp, timeout)``;
* otherwise (the pip-wheel environment): subscriptions to ``/tf`` (reliable, volatile, depth
  100) and ``/tf_static`` (reliable, transient local, depth 100), tf2's listener QoS, feeding
  the project's pure :class:`~ros_pose_estimation.core.tf_buffer.TFBuffer` (10 s cache, no
  extrapolation beyond 10 ms), guarded by a lock (callbacks and the worker thread); a lookup
  polls until the transform is there or ``timeout_s`` has passed.

Either way a missing transform raises :class:`~ros_pose_estimation.core.tf_buffer.
TFLookupError` saying why (unknown frame, not connected, extrapolation, timeout): the frame
processor logs it (throttled) and publishes that frame unfused. The lookup runs on the worker
thread after estimation, so the transform at the image stamp has usually arrived by then.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.core.tf_buffer import TFBuffer, TFLookupError, transform_from_msg

#: Seconds of TF history kept (tf2's default cache time).
CACHE_S = 10.0

#: Poll period (s) of the built-in buffer while waiting for a transform.
POLL_S = 0.005


class CameraPoseSource:
    """TF listener of ``node`` (module docstring); ``backend`` is ``"tf2_ros"`` or
    ``"builtin"`` (``"auto"``: tf2_ros when importable)."""

    def __init__(self, node: Any, backend: str = "auto") -> None:
        if backend not in ("auto", "tf2_ros", "builtin"):
            raise ValueError(f"backend: expected auto, tf2_ros or builtin, got {backend!r}")
        self._node = node
        self._subs: list = []
        self._listener = None
        if backend in ("auto", "tf2_ros"):
            try:
                import tf2_ros
            except ImportError:
                if backend == "tf2_ros":
                    raise
            else:
                self._start_tf2(tf2_ros)
                return
        self.backend = "builtin"
        self._lock = threading.Lock()
        self._buffer = TFBuffer(max_extrapolation=0.01, max_gap=1.0, cache_s=CACHE_S)
        self._subscribe()

    def _start_tf2(self, tf2_ros) -> None:
        from rclpy.duration import Duration

        self.backend = "tf2_ros"
        self._tf2 = tf2_ros
        self._buffer = tf2_ros.Buffer(cache_time=Duration(seconds=CACHE_S))
        self._listener = tf2_ros.TransformListener(self._buffer, self._node)

    def _subscribe(self) -> None:
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        from tf2_msgs.msg import TFMessage

        def qos(durability):
            return QoSProfile(
                depth=100,
                history=HistoryPolicy.KEEP_LAST,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=durability,
            )

        self._subs = [
            self._node.create_subscription(TFMessage, "/tf", lambda m: self.add(m, False),
                                           qos(DurabilityPolicy.VOLATILE)),
            self._node.create_subscription(TFMessage, "/tf_static", lambda m: self.add(m, True),
                                           qos(DurabilityPolicy.TRANSIENT_LOCAL)),
        ]  # fmt: skip

    def add(self, msg, static: bool) -> None:
        """Store a ``tf2_msgs/TFMessage`` (built-in backend; the subscriptions call it). A
        transform that is not finite is skipped with a throttled warning."""
        try:
            with self._lock:
                self._buffer.add_message(msg, static=static)
        except InputError as exc:  # the transforms before the bad one are stored
            self._node.get_logger().warning(
                f"/tf{'_static' if static else ''}: message skipped: {exc}",
                throttle_duration_sec=5.0,
            )

    def lookup(self, fixed_frame: str, camera_frame: str, stamp_ns: int,
               timeout_s: float) -> np.ndarray:  # fmt: skip
        """``[4 x 4]`` ``T_fixed_camera`` at ``stamp_ns``, waiting up to ``timeout_s``.

        Raises:
            TFLookupError: not available in time (the message says why).
        """
        if fixed_frame == camera_frame:
            return np.eye(4)
        if self.backend == "tf2_ros":
            return self._lookup_tf2(fixed_frame, camera_frame, stamp_ns, timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self._lock:
                    return self._buffer.lookup(fixed_frame, camera_frame, stamp_ns)
            except TFLookupError as exc:
                if time.monotonic() >= deadline:
                    raise TFLookupError(
                        f"{fixed_frame} <- {camera_frame} at {stamp_ns * 1e-9:.3f} s: {exc}"
                    ) from None
            time.sleep(POLL_S)

    def _lookup_tf2(self, fixed_frame, camera_frame, stamp_ns, timeout_s) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            msg = self._buffer.lookup_transform(
                fixed_frame,
                camera_frame,
                Time(nanoseconds=int(stamp_ns)),
                timeout=Duration(seconds=timeout_s),
            )
        except self._tf2.TransformException as exc:  # lookup, connectivity, extrapolation
            raise TFLookupError(f"{fixed_frame} <- {camera_frame} at {stamp_ns * 1e-9:.3f} s: "
                                f"{type(exc).__name__}: {exc}") from None  # fmt: skip
        return transform_from_msg(msg.transform)

    def destroy(self) -> None:
        """Stop listening (deactivate)."""
        for sub in self._subs:
            self._node.destroy_subscription(sub)
        self._subs = []
        if self._listener is not None:
            unregister = getattr(self._listener, "unregister", None)
            if unregister is not None:
                unregister()
            self._listener = None
