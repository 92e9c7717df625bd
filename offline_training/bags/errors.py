"""Errors of bag extraction, all :class:`~ros_pose_estimation.core.errors.InputError` subclasses.

Hierarchy (under the project's ``PoseEstimationError -> InputError``)::

    BagError                  the bag cannot be used as asked: missing or ambiguous topics,
    |                         unsupported message types, a bag without depth for rgbd...
    +-- CorruptBagError       a bag file is truncated or damaged; carries ``path`` (the file) and
                              ``report`` (what was extracted before the damage, kept on disk)

Every message names the bag (or file) and says what was expected or what to change.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ros_pose_estimation.core.errors import InputError

if TYPE_CHECKING:
    from offline_training.bags.report import ExtractionReport

__all__ = ["BagError", "CorruptBagError"]


class BagError(InputError):
    """A recording cannot be extracted as configured (topics, types, modality)."""


class CorruptBagError(BagError):
    """A bag file is truncated or damaged.

    Attributes:
        path: the damaged file (a storage file inside the bag folder, or the folder).
        report: the extraction report of what was read before the damage (``None`` when the
            error is raised while reading, before the extractor attached it).
    """

    def __init__(self, path: str | Path, reason: str, report: ExtractionReport | None = None):
        self.path = Path(path)
        self.reason = reason
        self.report = report
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"{self.path}: damaged or truncated bag file ({self.reason})"
        if self.report is not None:
            text += (
                f"; the {self.report.frames} frame(s) extracted before the damage are kept in "
                f"{self.report.cache_dir} (status 'truncated')"
            )
        return text

    def with_report(self, report: ExtractionReport) -> CorruptBagError:
        """The same error with ``report`` attached (message updated)."""
        return CorruptBagError(self.path, self.reason, report)
