"""Robot-like rosbag2 recordings of synthetic scenes (written with ``rosbags``, no ROS needed).

A recording is one static scene on a table, seen by a camera that moves along a smooth
trajectory (:mod:`.trajectories`). Topics (names configurable through ``RecordingConfig.topics``):

=================================  ==================================  ==========================
topic                              type                                content
=================================  ==================================  ==========================
/camera/color/image_raw            sensor_msgs/msg/Image               rgb8
/camera/color/camera_info          sensor_msgs/msg/CameraInfo          ideal pinhole, K = P[:3]
/camera/aligned_depth/image_raw    sensor_msgs/msg/Image               16UC1 (mm) or 32FC1 (m)
/detections                        vision_msgs/msg/Detection2DArray    visible boxes, class names
/tf, /tf_static                    tf2_msgs/msg/TFMessage              the robot's kinematics
/ground_truth/objects              vision_msgs/msg/Detection3DArray    object poses (camera frame)
=================================  ==================================  ==========================

``RecordingConfig.detections=False`` omits ``/detections`` (a robot recording made without a
detector running). The ground truth is also written to ``ground_truth.json`` inside the bag
folder. Training code never reads either; evaluation does.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from offline_training.synthetic import messages as msgs
from offline_training.synthetic.look import Look, apply_look
from offline_training.synthetic.sensor_noise import SensorNoise
from offline_training.synthetic.trajectories import OPTICAL_FRAME, TRAJECTORIES

DEFAULT_TOPICS = {
    "rgb": "/camera/color/image_raw",
    "camera_info": "/camera/color/camera_info",
    "depth": "/camera/aligned_depth/image_raw",
    "depth_info": "/camera/aligned_depth/camera_info",
    "detections": "/detections",
    "tf": "/tf",
    "tf_static": "/tf_static",
    "ground_truth": "/ground_truth/objects",
}

_TYPES = {
    "rgb": "sensor_msgs/msg/Image",
    "camera_info": "sensor_msgs/msg/CameraInfo",
    "depth": "sensor_msgs/msg/Image",
    "depth_info": "sensor_msgs/msg/CameraInfo",
    "detections": "vision_msgs/msg/Detection2DArray",
    "tf": "tf2_msgs/msg/TFMessage",
    "tf_static": "tf2_msgs/msg/TFMessage",
    "ground_truth": "vision_msgs/msg/Detection3DArray",
}


@dataclass
class RecordingConfig:
    """What to record. Lengths in metres, times in seconds, angles in degrees."""

    categories: list[str] = field(default_factory=lambda: ["mug", "bottle", "box"])
    n_objects: int = 3
    trajectory: str = "arm_sweep"
    duration: float = 10.0
    rate: float = 10.0
    tf_rate: float = 30.0
    width: int = 320
    height: int = 240
    hfov_deg: float = 60.0
    depth_encoding: str = "16UC1"
    storage: str = "sqlite3"
    compress: str = "message"
    noise: str = "full"
    min_visib_fract: float = 0.15
    detections: bool = True  # write /detections (False: a bag as recorded without a detector)
    seed: int = 0
    #: the objects (shapes, textures) of the recording with this seed, arranged, lit and
    #: filmed as ``seed`` says: a second recording of the same physical objects. None: the
    #: objects are ``seed``'s own draw.
    objects_seed: int | None = None
    topics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    #: post-render appearance of the RGB images (a target domain's lighting, blur, noise, JPEG;
    #: :mod:`.look`); depth, detections and ground truth stay exact. Default: unchanged.
    look: Look = field(default_factory=Look)
    #: the sensor model of ``noise`` "full" and "depth" (default: ``SensorNoise()``; another
    #: depth camera's artefacts: :mod:`.sensor_noise`); "depth" keeps its depth part only
    sensor: SensorNoise = field(default_factory=SensorNoise)

    def validate(self) -> None:
        self.look.validate()
        if self.trajectory not in TRAJECTORIES:
            raise ValueError(f"trajectory must be one of {sorted(TRAJECTORIES)}")
        if self.depth_encoding not in ("16UC1", "32FC1"):
            raise ValueError("depth_encoding must be '16UC1' (mm) or '32FC1' (m)")
        if self.storage not in ("sqlite3", "mcap"):
            raise ValueError("storage must be 'sqlite3' or 'mcap'")
        if self.rate <= 0 or self.tf_rate <= 0 or self.duration <= 0:
            raise ValueError("duration, rate and tf_rate must be positive")
        if self.compress not in ("none", "message", "file"):
            raise ValueError("compress must be 'none', 'message' or 'file' (zstd)")
        if self.noise not in ("full", "depth", "none"):
            raise ValueError(
                "noise must be 'full', 'depth' (depth noise and holes only) or 'none'"
            )
        if self.n_objects < 1:
            raise ValueError("n_objects must be at least 1")

    def intrinsics_matrix(self) -> np.ndarray:
        """``[3 x 3]`` K with square pixels and the principal point at the image centre."""
        f = 0.5 * self.width / np.tan(np.deg2rad(self.hfov_deg) / 2)
        return np.array([[f, 0, (self.width - 1) / 2], [0, f, (self.height - 1) / 2], [0, 0, 1]])


@dataclass
class RecordingSummary:
    path: str
    frames: int
    tf_messages: int
    detections: int
    objects: list[dict]
    bytes: int
    seconds: float


def _open_writer(path: Path, cfg: RecordingConfig):
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

    plugin = StoragePlugin.MCAP if cfg.storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=9, storage_plugin=plugin)
    if cfg.compress != "none":
        mode = CompressionMode.FILE if cfg.compress == "file" else CompressionMode.MESSAGE
        writer.set_compression(mode, CompressionFormat.ZSTD)
    return writer


def write_recording(
    cfg: RecordingConfig, out: str | Path, progress: bool = True
) -> RecordingSummary:
    """Render ``cfg`` and write it as a rosbag2 folder at ``out`` (must not exist yet)."""
    from offline_training.synthetic.render import render
    from offline_training.synthetic.scene import sample_scene
    from offline_training.synthetic.views import fit_distance
    from ros_pose_estimation.core.camera import Intrinsics

    cfg.validate()
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; rosbag2 writes a new folder, choose another path")
    start = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    scene = sample_scene(cfg.categories, rng, n_objects=cfg.n_objects, cycle_categories=True)
    if cfg.objects_seed is not None:  # the same objects as that recording, placed anew
        # (the scene drawn above is discarded but its draws stay: the arrangement that follows
        # is that of the recordings behind BENCHMARKS.md's revisit figures)
        own = sample_scene(cfg.categories, np.random.default_rng(cfg.objects_seed),
                           n_objects=cfg.n_objects, cycle_categories=True)  # fmt: skip
        scene = sample_scene(cfg.categories, rng, instances=own.objects)
    # keep the whole scene in view: camera distance from the scene's bounding sphere
    center, radius = scene.center_and_radius()
    k = cfg.intrinsics_matrix()
    dist = max(fit_distance(radius, k[0, 0], k[1, 1], cfg.width, cfg.height, fill=0.8), 0.35)
    if cfg.trajectory in ("arm_sweep", "static"):
        shape = {"radius": dist}
    else:  # base_pass: mast camera looking 35 deg down at the scene from ``dist``
        el = np.deg2rad(35.0)
        shape = {"distance": dist * np.cos(el), "mast_height": center[2] + dist * np.sin(el)}
    traj = TRAJECTORIES[cfg.trajectory](
        center, duration=cfg.duration, rate=cfg.tf_rate, rng=rng, **shape
    )
    noise = {
        "full": cfg.sensor,
        "depth": replace(cfg.sensor, rgb_sigma=0.0, rgb_blur_sigma=0.0),
        "none": None,
    }[cfg.noise]
    intr = Intrinsics.from_K(k, cfg.width, cfg.height)
    image_times = np.arange(int(round(cfg.duration * cfg.rate))) / cfg.rate
    t0 = 1_700_000_000 * 1_000_000_000  # a fixed, realistic epoch so bags are reproducible

    def ns(t: float) -> int:  # seconds since the start -> bag/header stamp (ns)
        return t0 + int(round(t * 1e9))

    objects = [
        {
            "index": i,
            "category": obj.category,
            "obj_id": int(obj.obj_id),
            "T_world_obj": np.asarray(obj.T_world_obj).tolist(),
            "size": np.asarray(obj.mesh.extents).tolist(),
        }
        for i, obj in enumerate(scene.objects)
    ]
    frames: list[dict] = []
    n_det = 0
    writer = _open_writer(out, cfg)
    with writer:
        store = msgs.typestore()
        conns = {
            key: writer.add_connection(topic, _TYPES[key], typestore=store)
            for key, topic in cfg.topics.items()
            if key != "detections" or cfg.detections
        }
        static = [(ln.parent, ln.child, ln.transforms) for ln in traj.links if ln.static]
        writer.write(conns["tf_static"], t0, msgs.serialize(msgs.tf_message(static, t0)))
        n_tf = 0
        for t in traj.times:
            moving = [
                (ln.parent, ln.child, traj.link_at(ln, t)) for ln in traj.links if not ln.static
            ]
            writer.write(conns["tf"], ns(t), msgs.serialize(msgs.tf_message(moving, ns(t))))
            n_tf += 1
        iterator = image_times
        if progress:
            from tqdm import tqdm

            iterator = tqdm(image_times, desc=f"rendering {out.name}", unit="frame")
        for t in iterator:
            stamp = ns(t)
            T_world_cam = traj.camera_pose_at(t)
            result = render(scene, T_world_cam, intr, noise=noise, rng=rng)
            if not cfg.look.is_identity:  # own stream: the render's draws stay unchanged
                look_rng = np.random.default_rng([cfg.seed, 2, len(frames)])
                result.rgb = apply_look(result.rgb, cfg.look, look_rng)
            depth = result.depth.astype(np.float32)
            if cfg.depth_encoding == "16UC1":
                depth = np.round(np.nan_to_num(depth, nan=0.0) * 1000.0)
                depth = np.clip(depth, 0, 65535).astype(np.uint16)
            for key, msg in (
                ("rgb", msgs.image(result.rgb, "rgb8", stamp, OPTICAL_FRAME)),
                ("camera_info", msgs.camera_info(k, cfg.width, cfg.height, stamp, OPTICAL_FRAME)),
                ("depth", msgs.image(depth, cfg.depth_encoding, stamp, OPTICAL_FRAME)),
                ("depth_info", msgs.camera_info(k, cfg.width, cfg.height, stamp, OPTICAL_FRAME)),
            ):
                writer.write(conns[key], stamp, msgs.serialize(msg))
            visible = [
                i
                for i in range(len(scene.objects))
                if result.visib_fract[i] >= cfg.min_visib_fract and result.px_count_visib[i] > 0
            ]
            det = msgs.detection2d_array(
                [result.bbox_visib[i] for i in visible],
                [scene.objects[i].category for i in visible],
                ["" for _ in visible],  # a plain detector gives no track ids
                stamp,
                OPTICAL_FRAME,
            )
            if cfg.detections:
                writer.write(conns["detections"], stamp, msgs.serialize(det))
                n_det += len(visible)
            poses = [np.asarray(result.T_cam_obj[i]) for i in range(len(scene.objects))]
            gt = msgs.detection3d_array(
                poses,
                [o["size"] for o in objects],
                [o["category"] for o in objects],
                [str(i) for i in range(len(objects))],
                stamp,
                OPTICAL_FRAME,
            )
            writer.write(conns["ground_truth"], stamp, msgs.serialize(gt))
            frames.append(
                {
                    "stamp_ns": stamp,
                    "T_world_cam": T_world_cam.tolist(),
                    "visib_fract": [float(v) for v in result.visib_fract],
                    "bbox_visib": [list(map(int, b)) for b in result.bbox_visib],
                }
            )
    meta = {
        "config": asdict(cfg),
        "K": k.tolist(),
        "frame_id": OPTICAL_FRAME,
        "world_frame": "world",
        "objects": objects,
        "frames": frames,
    }
    (out / "ground_truth.json").write_text(json.dumps(meta, indent=1))
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return RecordingSummary(
        path=str(out),
        frames=len(image_times),
        tf_messages=n_tf + 1,
        detections=n_det,
        objects=objects,
        bytes=size,
        seconds=time.perf_counter() - start,
    )
