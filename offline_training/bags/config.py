"""Every setting of a bag extraction, in one validated dataclass (part of the cache key)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from offline_training.bags.box_tracking import FollowConfig, InitialBox
from offline_training.bags.segment import SegmentConfig
from offline_training.bags.topics import MODALITIES, ROLES
from offline_training.bags.tracking import TrackerConfig
from ros_pose_estimation.core.errors import ConfigError

#: Where objects come from: ``auto`` = recorded detections when the bag has them, else the
#: initial boxes when given, else depth segmentation.
OBJECT_SOURCES = ("auto", "detections", "depth", "first_box")


@dataclass
class ExtractionConfig:
    """How to extract a recording. Times in seconds, lengths in metres, sizes in pixels.

    Attributes:
        modality: ``rgbd`` (aligned depth required, extracted in metres) or ``rgb``.
        objects: one of :data:`OBJECT_SOURCES`.
        topics: role -> topic overrides (:func:`~.topics.select_topics`; ``""`` drops a role).
        fixed_frame: TF frame camera poses are given in; None = the root of the camera's tree.
        class_map: detector class id -> category (ids not in it are skipped); None keeps ids.
        segment_category: category given to objects segmented from depth.
        initial_boxes: objects of the first frame for ``objects='first_box'``.
        slop, queue_size, exact: synchroniser of image, depth and detections
            (:class:`ros_pose_estimation.node.time_sync.ApproximateTimeSync`).
        camera_info_tolerance: largest stamp difference to the CameraInfo used for an image.
        every_nth: keep every n-th synchronised set (1 = all).
        max_frames: stop after this many synchronised sets (0 = whole recording).
        min_box_px: objects with a box side below this are dropped.
        chunk_frames: synchronised sets per cache chunk (resume granularity).
        tf_max_extrapolation, tf_max_gap: limits of the
            :class:`~ros_pose_estimation.core.tf_buffer.TFBuffer`.
    """

    modality: str = "rgbd"
    objects: str = "auto"
    topics: dict[str, str] = field(default_factory=dict)
    fixed_frame: str | None = None
    class_map: dict[str, str] | None = None
    segment_category: str = "object"
    initial_boxes: list[InitialBox] = field(default_factory=list)
    slop: float = 0.02
    queue_size: int = 30
    exact: bool = False
    camera_info_tolerance: float = 0.1
    every_nth: int = 1
    max_frames: int = 0
    min_box_px: float = 4.0
    chunk_frames: int = 50
    tf_max_extrapolation: float = 0.05
    tf_max_gap: float = 1.0
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    tracking: TrackerConfig = field(default_factory=TrackerConfig)
    follow: FollowConfig = field(default_factory=FollowConfig)

    def validate(self) -> None:
        if self.modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.objects not in OBJECT_SOURCES:
            raise ConfigError(f"objects must be one of {OBJECT_SOURCES}, got {self.objects!r}")
        if self.objects == "depth" and self.modality != "rgbd":
            raise ConfigError("objects='depth' segments depth: it needs modality 'rgbd'")
        if self.objects == "first_box" and not self.initial_boxes:
            raise ConfigError("objects='first_box' needs initial_boxes (category + box)")
        bad = set(self.topics) - set(ROLES)
        if bad:
            raise ConfigError(f"unknown topic role(s) {sorted(bad)}; roles: {', '.join(ROLES)}")
        for box in self.initial_boxes:
            box.validate()
        for name in ("slop", "camera_info_tolerance", "tf_max_extrapolation", "min_box_px"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name}: expected >= 0, got {getattr(self, name)}")
        if not self.tf_max_gap > 0:
            raise ConfigError(f"tf_max_gap: expected seconds > 0, got {self.tf_max_gap}")
        for name, low in (
            ("queue_size", 1),
            ("every_nth", 1),
            ("chunk_frames", 1),
            ("max_frames", 0),
        ):
            value = getattr(self, name)
            if int(value) != value or value < low:
                raise ConfigError(f"{name}: expected an integer >= {low}, got {value}")
        if not self.segment_category:
            raise ConfigError("segment_category: expected a category name")
        self.segment.validate()
        self.tracking.validate()

    def to_dict(self) -> dict:
        """JSON-ready settings (the cache key is computed from them)."""
        return asdict(self)
