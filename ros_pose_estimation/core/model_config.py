"""The part of a category model's settings that every model family shares.

A model config (:class:`~ros_pose_estimation.nemo.model.NemoConfig`,
:class:`~ros_pose_estimation.cse.model.CseConfig`) is a dataclass with at least ``category``,
``crop_size`` (px), ``crop_scale`` and ``stride`` (px of the crop per feature cell); it derives
from :class:`CropModelConfig` for their checks, their dict form (what a checkpoint stores) and
the feature map's size.
"""

from __future__ import annotations

from dataclasses import asdict

from ros_pose_estimation.core.categories import get_category
from ros_pose_estimation.core.errors import ConfigError, dataclass_from_dict

__all__ = ["CropModelConfig"]


class CropModelConfig:
    """Base of the model config dataclasses (see the module docstring); not a dataclass
    itself, it declares no field."""

    def check_category_and_crop(self) -> None:
        """Canonicalise ``category`` (``"Mug"`` -> ``"mug"``) and check ``crop_scale``; call
        from the dataclass's ``__post_init__``.

        Raises:
            UnknownCategoryError: an unregistered category; ConfigError: ``crop_scale < 1``.
        """
        self.category = get_category(self.category).name
        if self.crop_scale < 1.0:
            raise ConfigError(
                f"crop_scale must be >= 1 (crop around the box), got {self.crop_scale}"
            )

    @classmethod
    def from_dict(cls, data: dict):
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        return dataclass_from_dict(cls, data)

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores)."""
        return asdict(self)

    @property
    def feature_size(self) -> int:
        """Side of the feature map (cells): ``crop_size // stride``."""
        return self.crop_size // self.stride
