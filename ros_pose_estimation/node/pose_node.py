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
``/tf``, ``/tf_static``       tf2_msgs/TFMessage (with ``fixed_frame``:    in
                              the camera's pose for world-frame fusion)
``~/detections``              vision_msgs/Detection3DArray (with           out
                              ``fixed_frame``: fused, in that frame)
``~/detections_per_frame``    vision_msgs/Detection3DArray: per-frame      out
                              poses (only with ``fixed_frame``)
``~/markers``                 visualization_msgs/MarkerArray               out
``~/debug_image``             sensor_msgs/Image rgb8 (only computed when   out
                              subscribed)
``/tf``                       tf2_msgs/TFMessage (``publish_tf``)          out
``/diagnostics``              diagnostic_msgs/DiagnosticArray              out
``~/label_info``              vision_msgs/LabelInfo (transient local):     out
                              the categories and the score threshold
============================  ==========================================  ===========

World-frame fusion of static objects (``fixed_frame`` set, read on activate): a TF listener
(:mod:`.camera_pose`) gives the camera's pose in that frame at each image stamp and the pipeline
fuses each track's estimates there (:mod:`ros_pose_estimation.pipeline.world_fusion`).

Inputs are subscribed under ``input_qos`` (:mod:`.input_qos`, :mod:`.inputs`): by default
RELIABLE while every publisher of a topic is, so a large image is repaired instead of lost.

Threading: subscription callbacks only feed the time synchroniser; a matched set goes to a
:class:`.worker.LatestWorker` (queue of one, stale frames dropped and counted) whose thread
converts, estimates (:class:`~ros_pose_estimation.pipeline.pose_pipeline.PosePipeline`) and
publishes. Only that thread runs torch on ``num_threads`` threads; the executor's runs it on one
(:func:`.pipeline_factory.inference_threads`: two threads each halved the node's rate).
A bad message is logged (throttled per reason) and dropped; nothing a message contains stops
the node, and no statistic fails a frame (stamps ahead of the clock are reported as skew).

This module only wires the pieces together: :mod:`.node_params` (declarations, run-time
changes), :mod:`.pipeline_factory` (models, on configure), :mod:`.inputs`, :mod:`.synchroniser`,
:mod:`.processing` (the worker's per-frame work) and :mod:`.outputs` (publishers, messages).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from vision_msgs.msg import Detection2DArray, LabelInfo

from ros_pose_estimation.conversions.tf import check_frame_id
from ros_pose_estimation.core.errors import PoseEstimationError
from ros_pose_estimation.node.camera_pose import CameraPoseSource
from ros_pose_estimation.node.frames import FRAME_DROPS
from ros_pose_estimation.node.input_qos import CHECK_PERIOD_S
from ros_pose_estimation.node.inputs import InputSubscriptions
from ros_pose_estimation.node.node_params import NodeParams
from ros_pose_estimation.node.outputs import (
    create_publishers,
    label_info,
    publish_diagnostics,
    publish_result,
)
from ros_pose_estimation.node.pipeline_factory import (
    build_pipeline,
    category_min_score,
    fusion_config,
    inference_threads,
    load_meshes,
    tracking_config,
    use_torch_threads,
)
from ros_pose_estimation.node.processing import THROTTLE_S, Frame, FrameProcessor
from ros_pose_estimation.node.stats import NodeStats
from ros_pose_estimation.node.synchroniser import make_synchroniser
from ros_pose_estimation.node.worker import LatestWorker

__all__ = ["NODE_NAME", "Frame", "PoseEstimationNode", "main"]

NODE_NAME = "pose_estimation_node"


class PoseEstimationNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.pipeline = None
        self._param_table = NodeParams(self, self._apply_changes)
        self._inputs: InputSubscriptions | None = None
        self._camera_pose: CameraPoseSource | None = None
        self._pubs: dict[str, Any] = {}
        self._own_timers: list = []  # not `_timers`: rclpy.Node's own list of timers
        self._diag_timer = None
        self._worker: LatestWorker | None = None
        self._last_input_ns: dict[int, int] = {}
        self.sync_backend = ""
        self._meshes: dict = {}
        self._new_stats()
        self._processor = FrameProcessor(self, self._value, self._stats, self._publish)

    def _value(self, name: str):
        return self._param_table.value(name)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        # cheap checks first: no model is loaded for a configuration that cannot work
        if self._value("mask_input") and self._value("mask_category") not in self._value(
            "categories"
        ):
            self.get_logger().error(
                "configure failed: mask_input needs mask_category set to one of "
                f"{self._value('categories')}, got {self._value('mask_category')!r}")
            return TransitionCallbackReturn.FAILURE
        try:
            self.pipeline, specs, device = build_pipeline(self._value)
        except PoseEstimationError as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self.pipeline = None
            return TransitionCallbackReturn.FAILURE
        if self._value("mode") == "rgb" and self.pipeline.needs_depth:
            self.get_logger().error("configure failed: a cse model needs mode:=rgbd (depth)")
            self.pipeline = None
            return TransitionCallbackReturn.FAILURE
        self._processor.class_map = {cid: s.category for s in specs for cid in s.class_ids}
        self._specs = specs
        self._meshes = load_meshes(self._value, specs)
        self._pubs = create_publishers(self)
        self._pubs["label_info"].publish(self._label_info(specs))
        self._param_table.configured = True
        names = ", ".join(f"{s.category} ({s.method}, {s.checkpoint})" for s in specs)
        self.get_logger().info(f"configured on {device}: {names}")
        return TransitionCallbackReturn.SUCCESS

    def _label_info(self, specs) -> LabelInfo:
        """``~/label_info``: :func:`.outputs.label_info` stamped now."""
        return label_info(specs, self._value("min_score"), self.get_clock().now().to_msg())

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        rgbd = self._value("mode") == "rgbd"
        try:
            self._make_sync(3 if rgbd else 2)
            self._start_fusion()
        except PoseEstimationError as exc:
            self.get_logger().error(f"activate failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        inputs = InputSubscriptions(self, self._value("input_qos"))
        # camera_info first: the executor serves ready subscriptions in creation order, so a
        # camera_info that arrives with its image is stored before the image is handed over
        inputs.add(CameraInfo, "camera_info", self._on_camera_info)
        if self._value("use_compressed"):
            inputs.add(CompressedImage, "image/compressed", lambda m: self._add(0, m))
        else:
            inputs.add(Image, "image", lambda m: self._add(0, m))
        if self._value("mask_input"):
            inputs.add(Image, "mask", lambda m: self._add(1, m))
        else:
            inputs.add(Detection2DArray, "detections", lambda m: self._add(1, m))
        if rgbd:
            inputs.add(Image, "depth", lambda m: self._add(2, m))
        self._inputs = inputs
        threads = inference_threads(self._value("num_threads"))
        self._worker = LatestWorker(self._process, self._on_worker_error,
                                    on_start=lambda: use_torch_threads(threads))  # fmt: skip
        self._worker.start()
        self._diag_timer = self.create_timer(self._value("diagnostics_period"),
                                             self._publish_diag)  # fmt: skip
        self._own_timers = [self.create_timer(CHECK_PERIOD_S, inputs.check)]
        self._param_table.active = True
        self.get_logger().info(
            f"active ({'rgbd' if rgbd else 'rgb'}): listening on "
            + ", ".join(f"{t} ({q})" for t, q in inputs.reliabilities.items())
        )
        return TransitionCallbackReturn.SUCCESS

    def _start_fusion(self) -> None:
        """World-frame fusion per ``fixed_frame`` (off when empty) with a fresh fused state, and
        a TF listener when ``fixed_frame`` or ``up_frame`` is set (gravity for the RGB models).
        Raises ConfigError for a bad frame id or ``fusion.*`` values."""
        fixed = check_frame_id("fixed_frame", self._value("fixed_frame"))
        up = check_frame_id("up_frame", self._value("up_frame"))
        self.pipeline.enable_fusion(fusion_config(self._value) if fixed else None)
        if not (fixed or up):
            return
        self._camera_pose = CameraPoseSource(self)
        self._processor.camera_pose = self._camera_pose
        if fixed:
            self.get_logger().info(f"world-frame fusion of static objects in {fixed!r} (TF: "
                                   f"{self._camera_pose.backend})")  # fmt: skip
        self.get_logger().info(f"gravity from TF: +z of {up or fixed!r} is up")

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
        self._stats.reset()  # a new configuration starts with new statistics
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_inputs()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _stop_inputs(self) -> None:
        if self._inputs is not None:
            self._inputs.destroy()
            self._inputs = None
        for timer in [*self._own_timers, self._diag_timer]:
            if timer is not None:
                self.destroy_timer(timer)
        self._own_timers, self._diag_timer = [], None
        self._param_table.active = False
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._camera_pose is not None:  # after the worker: it may be looking up
            self._processor.camera_pose = None
            self._camera_pose.destroy()
            self._camera_pose = None

    def _release(self) -> None:
        for pub in self._pubs.values():
            self.destroy_publisher(pub)
        self._pubs = {}
        self.pipeline = None
        self._param_table.configured = False
        if "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # ------------------------------------------------------------------ live parameters
    def _apply_changes(self, names: set[str]) -> None:
        """Make accepted parameter changes (``names``) take effect now (the ``live`` rows of
        :mod:`.params`; per-frame reads such as ``publish_tf`` need nothing here)."""
        value = self._value
        pipeline = self.pipeline
        if pipeline is not None and (
            names & {"max_objects", "min_score"} or any(n.startswith("tracking.") for n in names)
        ):
            pipeline.update_settings(value("max_objects"), value("min_score"),
                                     tracking_config(value))  # fmt: skip
        if pipeline is not None and any(n.startswith("fusion.") for n in names):
            pipeline.update_settings(fusion=fusion_config(value))
        if pipeline is not None and any(n.endswith(".min_score") and n.startswith("models.")
                                        for n in names):  # fmt: skip
            pipeline.update_settings(
                category_min_score=category_min_score(value, [s.category for s in self._specs])
            )
        if "min_score" in names and "label_info" in self._pubs:
            self._pubs["label_info"].publish(self._label_info(self._specs))
        if names & {"queue_size", "slop", "exact_sync"} and self._inputs is not None:
            self._make_sync(self._sync_inputs)  # queued messages are dropped
        if "diagnostics_period" in names and self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = self.create_timer(value("diagnostics_period"), self._publish_diag)
        if "stats_window" in names:
            self._stats.window_s = value("stats_window")
        if names & {"marker_mesh", "debug_image"} and pipeline is not None and not self._meshes:
            self._meshes = load_meshes(value, self._specs)
        self.get_logger().info(f"parameters changed ({', '.join(sorted(names))}): in effect")

    # ------------------------------------------------------------------ inputs
    def _add(self, index: int, msg) -> None:
        stamp = msg.header.stamp
        stamp_ns = stamp.sec * 1_000_000_000 + stamp.nanosec
        if index == 0:
            self._stats.inputs.tick(time.monotonic())
            self._processor.image_arrived()
        last = self._last_input_ns.get(index)
        if last is not None and last - stamp_ns > self._value("time_jump_reset") * 1e9:
            # time jumped back (bag loop, simulation reset): the synchroniser would hold every
            # older stamp back as out of order. Reset once: the other inputs start afresh too.
            self.get_logger().info("input stamps jumped back: synchroniser reset")
            self._make_sync(self._sync_inputs)
            self._last_input_ns = {}
        elif index == 0 and last is not None and stamp_ns <= last:
            # the synchroniser would drop it silently: count and say so here
            self._stats.dropped.add("out_of_order")
            self.get_logger().warning(
                f"frame dropped (out_of_order): image stamp {stamp_ns} ns is not newer than the "
                f"previous image's {last} ns", throttle_duration_sec=THROTTLE_S)
            return
        self._last_input_ns[index] = stamp_ns
        self._feed(index, stamp_ns, msg)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._processor.camera_info = msg
        self._stats.camera_info_received(msg.width, msg.height)

    def _on_frame(self, image, detections, depth=None) -> None:
        self._stats.synchronised += 1
        worker = self._worker
        if worker is not None and not worker.submit(Frame(image, detections, depth,
                                                          time.monotonic())):  # fmt: skip
            self._stats.dropped.add("stale")

    # ------------------------------------------------------------------ worker
    def _process(self, frame: Frame) -> None:
        self._processor.process(frame, self.pipeline)

    def _publish(self, header, rgb, intrinsics, result) -> None:
        publish_result(self._pubs, self._value, self._meshes, header, rgb, intrinsics, result)

    def _on_worker_error(self, exc: BaseException) -> None:
        if not self.context.ok():  # shutting down (Ctrl-C): publishers are already gone
            return
        self._stats.dropped.add("error")
        self.get_logger().error(f"frame failed with an unexpected error (node keeps running): "
                                f"{type(exc).__name__}: {exc}",
                                throttle_duration_sec=THROTTLE_S)  # fmt: skip

    # ------------------------------------------------------------------ diagnostics
    def _new_stats(self) -> None:
        from ros_pose_estimation.conversions.detections import SKIP_REASONS
        from ros_pose_estimation.conversions.masks import MASK_SKIP_REASONS
        from ros_pose_estimation.pipeline.pose_pipeline import PIPELINE_SKIPS

        self._stats = NodeStats(self.get_parameter("stats_window").value, 512, FRAME_DROPS,
                                SKIP_REASONS + MASK_SKIP_REASONS + PIPELINE_SKIPS)  # fmt: skip

    def stats(self):
        """The :class:`~ros_pose_estimation.node.stats.StatsSnapshot` /diagnostics reports (wall
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
        publish_diagnostics(pub, self.get_clock().now().to_msg(), self.get_name(), self.stats(),
                            self._value("camera_info_timeout"))  # fmt: skip


def main(args: list[str] | None = None) -> int:
    """Console script ``pose_estimation_node`` (``--ros-args --params-file pose.yaml``)."""
    rclpy.init(args=args)
    code = 0
    node = None
    try:
        node = PoseEstimationNode()
        node._param_table.warn_dropped(sys.argv[1:] if args is None else list(args))
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
