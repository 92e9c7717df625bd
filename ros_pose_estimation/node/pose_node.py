"""``pose_estimation_node``: a lifecycle node that publishes the 6D poses of detected objects.

Lifecycle (``rclpy.lifecycle``): *configure* reads the parameters and loads the models (fails,
saying why, on a missing / corrupt / wrong checkpoint), *activate* subscribes and starts the
worker thread, *deactivate* unsubscribes, *cleanup* frees the models (and GPU memory). With
``autostart`` (default) the node configures and activates itself.

Topics (relative names: remap them, or push the node into the camera's namespace):

============================  ==========================================  ===========
``image``                     sensor_msgs/Image (``image/compressed``      in
                              CompressedImage with ``use_compressed``)
``camera_info``               sensor_msgs/CameraInfo (latest one used)     in
``depth``                     sensor_msgs/Image 16UC1 mm / 32FC1 m,        in (rgbd)
                              aligned to ``image``
``detections``                vision_msgs/Detection2DArray                 in
``mask``                      sensor_msgs/Image instance labels, instead   in
                              of ``detections`` with ``mask_input``
``~/detections``              vision_msgs/Detection3DArray                 out
``~/markers``                 visualization_msgs/MarkerArray               out
``~/debug_image``             sensor_msgs/Image rgb8 (only computed when   out
                              subscribed)
``/tf``                       tf2_msgs/TFMessage (``publish_tf``)          out
``/diagnostics``              diagnostic_msgs/DiagnosticArray              out
``~/label_info``              vision_msgs/LabelInfo (transient local):     out
                              the categories and the score threshold
============================  ==========================================  ===========

Threading: subscription callbacks only feed the time synchroniser; a matched set goes to a
:class:`.worker.LatestWorker` (queue of one, stale frames dropped and counted) whose thread
converts, estimates (:class:`~ros_pose_estimation.pipeline.PosePipeline`) and publishes.
A bad message is logged (throttled) and dropped; nothing a message contains stops the node.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage
from vision_msgs.msg import Detection2DArray, Detection3DArray, LabelInfo, VisionClass
from visualization_msgs.msg import MarkerArray

from ros_pose_estimation import conversions as conv
from ros_pose_estimation.core.errors import PoseEstimationError
from ros_pose_estimation.node.frames import FRAME_DROPS, FrameDrop, ObjectSource, decode_frame
from ros_pose_estimation.node.params import (
    MODEL_PARAMS,
    PARAMS,
    Param,
    model_param,
    tracking_params,
)
from ros_pose_estimation.node.synchroniser import make_synchroniser
from ros_pose_estimation.node.worker import LatestWorker
from ros_pose_estimation.overlay import draw_overlay
from ros_pose_estimation.stats import NodeStats
from ros_pose_estimation.tracking import TrackFilterConfig

NODE_NAME = "pose_estimation_node"
_THROTTLE_S = 5.0


@dataclass
class Frame:
    """One synchronised input set, as the worker receives it."""

    image: Any
    detections: Any
    depth: Any
    received: float  # time.monotonic() when the last message of the set arrived


def _descriptor(param: Param) -> ParameterDescriptor:
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
        from rcl_interfaces.msg import ParameterType

        desc.type = ParameterType.PARAMETER_STRING_ARRAY
    return desc


class PoseEstimationNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._params: dict[str, Param] = {}
        for param in PARAMS + tracking_params():
            self._declare(param)
        for category in self._value("categories"):
            for param in MODEL_PARAMS:
                self._declare(model_param(category, param.name))
        self._configured = False
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.pipeline = None
        self._subs: list = []
        self._pubs: dict[str, Any] = {}
        self._timer = None
        self._worker: LatestWorker | None = None
        self._camera_info = None
        self._intrinsics = None
        self._intrinsics_key = None
        self._first_image_time: float | None = None
        self._last_stamp_ns: int | None = None
        self._last_input_ns: dict[int, int] = {}
        self.sync_backend = ""
        self._meshes: dict = {}
        self._reset_stats()

    # ------------------------------------------------------------------ parameters
    def _declare(self, param: Param) -> None:
        self._params[param.name] = param
        value = self.declare_parameter(param.name, param.default, _descriptor(param)).value
        param.check(value)  # a bad value in the params file fails start-up with the reason

    def _value(self, name: str):
        return self._params[name].check(self.get_parameter(name).value)

    def _on_set_parameters(self, changes) -> SetParametersResult:
        for change in changes:
            param = self._params.get(change.name)
            if param is None:
                return SetParametersResult(successful=False,
                                           reason=f"unknown parameter {change.name!r}")
            if param.read_only and self._configured:
                return SetParametersResult(
                    successful=False,
                    reason=f"{change.name} is fixed while the node is configured (models, device "
                    "and inputs are set up from it); deactivate + cleanup, set it, configure",
                )  # fmt: skip
            try:
                param.check(change.value)
            except PoseEstimationError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        if self.pipeline is not None:
            self.get_logger().info("parameters changed; applied to the next frame")
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from ros_pose_estimation.pipeline import ModelSpec, PosePipeline, load_estimators

        try:
            device = self._device()
            threads = self._value("num_threads")
            if threads:
                import torch

                torch.set_num_threads(threads)
            specs = []
            for category in self._value("categories"):
                ids = [c for c in self._value(f"models.{category}.class_ids") if c]
                specs.append(ModelSpec(
                    category, self._value(f"models.{category}.checkpoint"),
                    self._value(f"models.{category}.method"), ids,
                ))  # fmt: skip
            estimators = load_estimators(specs, device, self._value("preset"))
            self.pipeline = PosePipeline(
                estimators, self._value("max_objects"), self._value("min_score"),
                self._tracking_config(),
            )  # fmt: skip
        except PoseEstimationError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.pipeline = None
            return TransitionCallbackReturn.FAILURE
        if self._value("mode") == "rgb" and self.pipeline.needs_depth:
            self.get_logger().error("configure failed: a cse model needs mode:=rgbd (depth)")
            self.pipeline = None
            return TransitionCallbackReturn.FAILURE
        self._class_map = {cid: s.category for s in specs for cid in s.class_ids}
        self._specs = specs
        if self._value("mask_input") and self._value("mask_category") not in self._value(
            "categories"
        ):
            self.get_logger().error(
                "configure failed: mask_input needs mask_category set to one of "
                f"{self._value('categories')}, got {self._value('mask_category')!r}")
            self.pipeline = None
            return TransitionCallbackReturn.FAILURE
        self._meshes = self._load_meshes(specs)
        reliable = QoSProfile(depth=5, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.RELIABLE)  # fmt: skip
        self._pubs = {
            "detections": self.create_publisher(Detection3DArray, "~/detections", reliable),
            "markers": self.create_publisher(MarkerArray, "~/markers", reliable),
            "debug": self.create_publisher(Image, "~/debug_image", reliable),
            "tf": self.create_publisher(TFMessage, "/tf", QoSProfile(
                depth=100, durability=DurabilityPolicy.VOLATILE,
                reliability=ReliabilityPolicy.RELIABLE)),
            "diagnostics": self.create_publisher(DiagnosticArray, "/diagnostics", reliable),
            "label_info": self.create_publisher(LabelInfo, "~/label_info", QoSProfile(
                depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                reliability=ReliabilityPolicy.RELIABLE)),
        }  # fmt: skip
        self._pubs["label_info"].publish(self._label_info(specs))
        self._configured = True
        names = ", ".join(f"{s.category} ({s.method}, {s.checkpoint})" for s in specs)
        self.get_logger().info(f"configured on {device}: {names}")
        return TransitionCallbackReturn.SUCCESS

    def _label_info(self, specs) -> LabelInfo:
        """The categories this node reports (``class_id`` = the registry's id, ``class_name``
        = the ``class_id`` string of ``~/detections``) and ``min_score`` as the threshold."""
        from ros_pose_estimation.core.categories import get_category

        msg = LabelInfo(threshold=float(self._value("min_score")))
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.class_map = [VisionClass(class_id=get_category(s.category).class_id,
                                     class_name=s.category) for s in specs]  # fmt: skip
        return msg

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        rgbd = self._value("mode") == "rgbd"
        try:
            self._make_sync(3 if rgbd else 2)
        except PoseEstimationError as exc:
            self.get_logger().error(f"activate failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        qos = qos_profile_sensor_data
        if self._value("use_compressed"):
            image_sub = self.create_subscription(
                CompressedImage, "image/compressed", lambda m: self._add(0, m), qos)
        else:
            image_sub = self.create_subscription(Image, "image", lambda m: self._add(0, m), qos)
        if self._value("mask_input"):
            objects_sub = self.create_subscription(Image, "mask", lambda m: self._add(1, m), qos)
        else:
            objects_sub = self.create_subscription(
                Detection2DArray, "detections", lambda m: self._add(1, m), qos)
        self._subs = [
            image_sub,
            objects_sub,
            self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos),
        ]  # fmt: skip
        if rgbd:
            self._subs.append(
                self.create_subscription(Image, "depth", lambda m: self._add(2, m), qos))
        self._worker = LatestWorker(self._process, self._on_worker_error)
        self._worker.start()
        self._timer = self.create_timer(self._value("diagnostics_period"), self._publish_diag)
        self.get_logger().info(
            f"active ({'rgbd' if rgbd else 'rgb'}): listening on "
            + ", ".join(s.topic_name for s in self._subs)
        )
        return TransitionCallbackReturn.SUCCESS

    def _make_sync(self, n_inputs: int) -> None:
        """(Re)create the time synchroniser (:mod:`.synchroniser`)."""
        self._sync_inputs = n_inputs
        self._feed, self.sync_backend = make_synchroniser(
            n_inputs, self._value("queue_size"), self._value("slop"), self._value("exact_sync"),
            self._on_frame, self._value("sync_backend"),
        )  # fmt: skip

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        self.pipeline = None
        self._configured = False
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _device(self) -> str:
        device = self._value("device")
        import torch

        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            from ros_pose_estimation.core.errors import ConfigError

            raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device; "
                              "use device:=cpu or auto")  # fmt: skip
        return device

    def _tracking_config(self) -> TrackFilterConfig:
        values = {f.name: self._value(f"tracking.{f.name}") for f in fields(TrackFilterConfig)}
        config = TrackFilterConfig(**values)
        config.validate()
        return config

    def _load_meshes(self, specs) -> dict:
        if not self._value("marker_mesh") and not self._value("debug_image"):
            return {}
        from ros_pose_estimation.shapes import template_mesh

        return {s.category: template_mesh(s.category) for s in specs}

    # ------------------------------------------------------------------ inputs
    def _add(self, index: int, msg) -> None:
        stamp = msg.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if index == 0:
            self._stats.inputs.tick(time.monotonic())
            if self._first_image_time is None:
                self._first_image_time = time.monotonic()
        last = self._last_input_ns.get(index)
        if last is not None and last - stamp_ns > self._value("time_jump_reset") * 1e9:
            # time jumped back (bag loop, simulation reset): the synchroniser would hold every
            # older stamp back as out of order. Reset once: the other inputs start afresh too.
            self.get_logger().info("input stamps jumped back: synchroniser reset")
            self._make_sync(self._sync_inputs)
            self._last_input_ns = {}
        self._last_input_ns[index] = stamp_ns
        self._feed(index, stamp_ns, msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg
        self._stats.has_camera_info = True

    def _on_frame(self, image, detections, depth=None) -> None:
        worker = self._worker
        if worker is not None and not worker.submit(Frame(image, detections, depth,
                                                          time.monotonic())):  # fmt: skip
            self._stats.dropped.add("stale")

    def _object_source(self) -> ObjectSource:
        if self._value("mask_input"):
            return ObjectSource(None, self._value("mask_category"), self._value("min_mask_pixels"))
        return ObjectSource(self._class_map)

    def _intrinsics_for(self):
        info = self._camera_info
        if info is None:
            return None
        key = (tuple(info.k), tuple(info.p), info.width, info.height, info.binning_x,
               info.binning_y)  # fmt: skip
        if key != self._intrinsics_key:
            self._intrinsics = conv.intrinsics_from_camera_info(info)
            self._intrinsics_key = key
        return self._intrinsics

    # ------------------------------------------------------------------ worker
    def _warn(self, reason: str, text: str) -> None:
        self._stats.dropped.add(reason)
        self.get_logger().warning(f"frame dropped ({reason}): {text}",
                                  throttle_duration_sec=_THROTTLE_S)  # fmt: skip

    def _process(self, frame: Frame) -> None:
        pipeline = self.pipeline
        if pipeline is None:
            return
        header = frame.image.header
        stamp_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        if self._last_stamp_ns is not None and stamp_ns <= self._last_stamp_ns:
            if self._last_stamp_ns - stamp_ns > self._value("time_jump_reset") * 1e9:
                self.get_logger().info("time jumped back: tracks and queues reset")
                pipeline.reset()
            else:
                self._warn("out_of_order", "image stamp is not newer than the previous frame")
                return
        start = time.perf_counter()
        try:
            decoded = decode_frame(frame.image, frame.detections, frame.depth,
                                   self._intrinsics_for(), self._object_source())  # fmt: skip
        except FrameDrop as drop:
            if drop.reason != "no_camera_info":
                self._warn(drop.reason, str(drop))
                return
            waited = time.monotonic() - (self._first_image_time or time.monotonic())
            if waited > self._value("camera_info_timeout"):
                self._warn("no_camera_info", f"no camera_info received on "
                           f"{self.resolve_topic_name('camera_info')} for {waited:.0f} s")
            else:
                self._stats.dropped.add("no_camera_info")
            return
        rgb, intrinsics = decoded.rgb, decoded.intrinsics
        converted = time.perf_counter()
        result = pipeline.process(rgb, decoded.detections, intrinsics, stamp_ns, decoded.depth)
        self._last_stamp_ns = stamp_ns
        self._stats.skipped.add_all({**decoded.skipped, **result.skipped})
        for line in result.errors:
            self.get_logger().warning(line, throttle_duration_sec=_THROTTLE_S)
        published = time.perf_counter()
        self._publish(header, rgb, intrinsics, result)
        self._stats.latency.add("publish", 1e3 * (time.perf_counter() - published))
        self._stats.outputs.tick(time.monotonic())
        latency = self._stats.latency
        latency.add("convert", 1e3 * (converted - start))
        latency.add_all(result.timings)
        latency.add("receive_to_publish", 1e3 * (time.monotonic() - frame.received))
        latency.add("stamp_to_publish", (self.get_clock().now().nanoseconds - stamp_ns) / 1e6)

    def _publish(self, header, rgb, intrinsics, result) -> None:
        poses = result.poses
        self._pubs["detections"].publish(conv.detection3d_array(header, poses))
        if self._value("publish_tf") and poses:
            self._pubs["tf"].publish(conv.tf_message(header, poses, self._value("tf_prefix")))
        if self._pubs["markers"].get_subscription_count():
            meshes = self._meshes if self._value("marker_mesh") else None
            self._pubs["markers"].publish(conv.marker_array(
                header, poses, lifetime_s=self._value("marker_lifetime"), meshes=meshes))
        if self._value("debug_image") and self._pubs["debug"].get_subscription_count():
            overlay = draw_overlay(rgb, intrinsics, poses, self._meshes or None)
            self._pubs["debug"].publish(conv.numpy_to_image(overlay, "rgb8", header))

    def _on_worker_error(self, exc: BaseException) -> None:
        if not self.context.ok():  # shutting down (Ctrl-C): publishers are already gone
            return
        self._stats.dropped.add("error")
        self.get_logger().error(f"frame failed with an unexpected error (node keeps running): "
                                f"{type(exc).__name__}: {exc}",
                                throttle_duration_sec=_THROTTLE_S)  # fmt: skip

    # ------------------------------------------------------------------ diagnostics
    def _reset_stats(self) -> None:
        from ros_pose_estimation.conversions.detections import SKIP_REASONS
        from ros_pose_estimation.conversions.masks import MASK_SKIP_REASONS
        from ros_pose_estimation.pipeline import PIPELINE_SKIPS

        self._stats = NodeStats(self.get_parameter("stats_window").value, 512, FRAME_DROPS,
                                SKIP_REASONS + MASK_SKIP_REASONS + PIPELINE_SKIPS)  # fmt: skip

    def stats(self):
        """The :class:`~ros_pose_estimation.stats.StatsSnapshot` /diagnostics reports (wall
        clock: rates are what this machine sustains, also during bag playback)."""
        return self._stats.snapshot(time.monotonic())

    @property
    def processed(self) -> int:
        """Frames the worker thread handled since activation."""
        return self._worker.processed if self._worker is not None else 0

    def _publish_diag(self) -> None:
        pub = self._pubs.get("diagnostics")
        if pub is None:
            return
        from ros_pose_estimation.conversions.diagnostics import DiagnosticRules

        rules = DiagnosticRules(camera_info_timeout_s=self._value("camera_info_timeout"))
        pub.publish(conv.diagnostic_array(self.get_clock().now().to_msg(),
                                          node_name=self.get_name(), stats=self.stats(),
                                          rules=rules))  # fmt: skip


def main(args: list[str] | None = None) -> int:
    """Console script ``pose_estimation_node`` (``--ros-args --params-file pose.yaml``)."""
    rclpy.init(args=args)
    code = 0
    node = None
    try:
        node = PoseEstimationNode()
        if node.get_parameter("autostart").value:
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                node.get_logger().error("not started: configuration failed (see above)")
                return 1
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                return 1
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C / ros2 lifecycle shutdown: leave quietly
    except PoseEstimationError as exc:  # an invalid parameter value in the params file
        print(f"{NODE_NAME}: {exc}", file=sys.stderr)
        code = 1
    finally:
        if node is not None:
            node._stop_inputs()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
