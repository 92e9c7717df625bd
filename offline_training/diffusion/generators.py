"""The view generator contract of paper 000's pipeline, and how to pick one by name.

A generator turns one segmented object image into images of the same object seen from
:class:`~offline_training.diffusion.views.RelativeView` s. Implementations:

* ``zero123`` (:class:`offline_training.diffusion.zero123.Zero123Generator`): the diffusion
  model of the paper;
* ``render`` (:class:`offline_training.diffusion.render_generator.RenderGenerator`): renders the
  data engine's instance at the requested view, a perfect stand-in used to measure the rest of
  the pipeline on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from offline_training.diffusion.views import RelativeView

__all__ = ["GeneratedView", "ObjectImage", "ViewGenerator"]


@dataclass
class ObjectImage:
    """One object to generate views of.

    Attributes:
        rgb: ``[H x W x 3]`` uint8 RGB image.
        mask: ``[H x W]`` bool, the object's pixels.
        name: identifier used in file names and logs.
        elevation_deg: the input view's elevation above the object's horizon, when known
            (Stable-Zero123 conditions on it).
        source: what a generator needs beyond the image (the ``render`` generator: the data
            engine's instance and its pose); None for real images.
    """

    rgb: np.ndarray
    mask: np.ndarray
    name: str = "object"
    elevation_deg: float | None = None
    source: object | None = None


@dataclass
class GeneratedView:
    """``rgb`` ``[S x S x 3]`` uint8 and ``mask`` ``[S x S]`` bool of the object seen from
    ``view``, the object centred (the generators' output framing)."""

    rgb: np.ndarray
    mask: np.ndarray
    view: RelativeView


@runtime_checkable
class ViewGenerator(Protocol):
    """What paper 000's pipeline calls."""

    name: str

    def generate(
        self, obj: ObjectImage, views: list[RelativeView], seed: int = 0
    ) -> list[GeneratedView]:
        """One :class:`GeneratedView` per entry of ``views``, in order; reproducible for a
        given ``seed``."""
        ...
