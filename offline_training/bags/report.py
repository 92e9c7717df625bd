"""What an extraction produced and what it left out, as data (JSON) and as text.

:class:`ExtractionReport` is stored in the cache's manifest, so a reused extraction reports
the same numbers without reading the bag again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields

#: Why a synchronised frame was not extracted.
FRAME_SKIP_REASONS = (
    "no_camera_info",  # no CameraInfo within the sync slop of the image
    "bad_image",  # colour image undecodable: unsupported encoding, wrong data size...
    "bad_depth",  # depth undecodable or not the colour image's size (not aligned)
    "bad_camera_info",  # the nearest CameraInfo is unusable (uncalibrated, binning, ROI...)
    "intrinsics_mismatch",  # CameraInfo size differs from the image's
    "size_changed",  # image size differs from the recording's first frame
)


@dataclass
class ExtractionReport:
    """Counts of one recording's extraction (see :meth:`format` for the text form).

    ``unsynchronised`` counts messages of each synchronised input that found no partner
    (``ApproximateTimeSync`` drop reasons plus the ones still queued at the end).
    """

    bag: str
    storage: str = ""
    cache_dir: str = ""
    status: str = "incomplete"  # incomplete | complete | truncated
    error: str = ""
    reused: bool = False
    resumed_from_frame: int = 0
    topics: dict[str, str | None] = field(default_factory=dict)
    ignored_topics: dict[str, str] = field(default_factory=dict)
    object_source: str = ""
    modality: str = ""
    fixed_frame: str | None = None
    camera_frame: str | None = None
    synchronised_sets: int = 0
    frames: int = 0
    frames_with_camera_pose: int = 0
    frames_without_objects: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FRAME_SKIP_REASONS, 0))
    skip_examples: dict[str, str] = field(default_factory=dict)
    unsynchronised: dict[str, int] = field(default_factory=dict)
    objects_skipped: dict[str, int] = field(default_factory=dict)  # detection skip reasons,
    # too_small
    objects: int = 0
    objects_without_depth: int = 0
    objects_per_category: dict[str, int] = field(default_factory=dict)
    tracks: int = 0
    short_tracks: int = 0
    tracks_per_category: dict[str, int] = field(default_factory=dict)
    tf_messages: int = 0
    tf_conflicts: int = 0
    seconds: float = 0.0

    def skip(self, reason: str, example: str = "") -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        if example and reason not in self.skip_examples:
            self.skip_examples[reason] = example

    def count_tracks(self, summaries) -> None:
        self.tracks = len(summaries)
        self.short_tracks = sum(1 for s in summaries if s.short)
        self.tracks_per_category = dict(
            sorted(Counter(s.category for s in summaries if not s.short).items())
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ExtractionReport:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def format(self) -> str:
        def counts(d: dict) -> str:
            shown = {k: v for k, v in d.items() if v}
            return ", ".join(f"{k} {v}" for k, v in shown.items()) or "none"

        state = self.status + (" (reused from cache, bag not read)" if self.reused else "")
        if self.resumed_from_frame:
            state += f" (resumed at frame {self.resumed_from_frame})"
        lines = [
            f"{self.bag} [{self.storage}]: {state}",
            f"  cache: {self.cache_dir}",
            "  topics: " + ", ".join(f"{k}={v}" for k, v in self.topics.items() if v),
            f"  objects from: {self.object_source} (modality {self.modality})",
            f"  frames: {self.frames} of {self.synchronised_sets} synchronised sets; "
            f"with camera pose ({self.fixed_frame} <- {self.camera_frame}): "
            f"{self.frames_with_camera_pose}; without objects: {self.frames_without_objects}",
            f"  frames skipped: {counts(self.skipped)}",
            f"  messages without a sync partner: {counts(self.unsynchronised)}",
            f"  objects: {self.objects} ({counts(self.objects_per_category)}); "
            f"without valid depth: {self.objects_without_depth}",
            f"  tracks: {self.tracks} ({counts(self.tracks_per_category)}), "
            f"short: {self.short_tracks}",
        ]
        if any(self.objects_skipped.values()):
            lines.append(f"  objects skipped: {counts(self.objects_skipped)}")
        for reason, example in self.skip_examples.items():
            lines.append(f"  e.g. {reason}: {example}")
        if self.ignored_topics:
            lines.append(
                "  ignored topics: "
                + ", ".join(f"{t} ({m})" for t, m in sorted(self.ignored_topics.items()))
            )
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        lines.append(f"  time: {self.seconds:.1f} s")
        return "\n".join(lines)
