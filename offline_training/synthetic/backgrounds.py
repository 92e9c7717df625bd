"""Random background images, independent of the object category (paper 001 Sec. 3.2).

Paper 001 breaks the spurious correlation between category and context by drawing backgrounds
independently of the category. A :class:`BackgroundSpec` is a tiny seeded description; the
image is produced at whatever resolution the renderer needs by :func:`make_background`, so a
scene can be rendered at several resolutions and still show the same background.

Kinds: ``noise`` (fractal colour noise), ``gradient`` (linear or radial), ``shapes`` (random
circles, boxes, polygons and lines), ``checker`` (rotated checkerboard), ``stripes`` and
``image`` (a random crop of a user-supplied photo, e.g. the "wallpaper" sets of paper 001).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .noise import fbm

BACKGROUND_KINDS: tuple[str, ...] = ("noise", "gradient", "shapes", "checker", "stripes")
_NOISE_MAX_SIDE = 192  # fractal noise is evaluated at most at this resolution, then upsampled
_MAX_SIDE = 320  # other kinds are drawn at most at this resolution, then upsampled (defocused)


@dataclass(frozen=True)
class BackgroundSpec:
    """A background: ``kind`` (one of :data:`BACKGROUND_KINDS` or ``"image"``), a seed, and
    for ``image`` the ``path`` of the photo to crop."""

    kind: str
    seed: int
    path: str | None = None


def sample_background(
    rng: np.random.Generator, image_paths: Sequence[str] = (), p_image: float = 0.5
) -> BackgroundSpec:
    """Draw a background; with ``image_paths`` given, a photo is used with probability
    ``p_image``, else a procedural kind chosen uniformly."""
    seed = int(rng.integers(0, 2**31 - 1))
    if len(image_paths) and rng.random() < p_image:
        return BackgroundSpec("image", seed, str(image_paths[int(rng.integers(len(image_paths)))]))
    return BackgroundSpec(str(rng.choice(BACKGROUND_KINDS)), seed)


def _colors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n x 3]`` random colours in [0, 1]."""
    hsv = [(rng.random(), rng.random(), 0.1 + 0.9 * rng.random()) for _ in range(n)]
    return np.array([colorsys.hsv_to_rgb(*c) for c in hsv])


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates normalised by the shorter side: ``[H x W]`` x and y."""
    s = np.float32(min(width, height))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs / s, ys / s


def _ramp(colors: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Piecewise-linear colour ramp: ``t`` ``[H x W]`` in [0, 1] -> ``[H x W x 3]``."""
    knots = np.linspace(0.0, 1.0, len(colors))
    return np.stack([np.interp(t, knots, colors[:, c]).astype(np.float32) for c in range(3)], -1)


def _gradient(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    xs, ys = _grid(w, h)
    colors = _colors(rng, int(rng.integers(2, 4)))
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * np.pi)
        t = xs * np.cos(a) + ys * np.sin(a)
        t = (t - t.min()) / max(np.ptp(t), 1e-9)
    else:
        cx, cy = rng.random() * xs.max(), rng.random() * ys.max()
        t = np.hypot(xs - cx, ys - cy) / rng.uniform(0.5, 1.5)
    return _ramp(colors, t)


def _noise(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    f = min(1.0, _NOISE_MAX_SIDE / max(w, h))
    sw, sh = max(2, round(w * f)), max(2, round(h * f))
    xs, ys = _grid(sw, sh)
    freq = rng.uniform(2.0, 16.0)
    t = fbm(np.stack([xs.ravel(), ys.ravel()], 1) * freq, int(rng.integers(2**31 - 1)), 5)
    t = (t - t.min()) / max(np.ptp(t), 1e-9)
    img = _ramp(_colors(rng, int(rng.integers(2, 5))), t.reshape(sh, sw))
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)


def _shapes(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    img = np.ascontiguousarray(_gradient(rng, w, h))
    s = min(w, h)
    for _ in range(int(rng.integers(10, 60))):
        color = tuple(float(c) for c in _colors(rng, 1)[0])
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        r = s * rng.uniform(0.02, 0.3)
        kind = rng.integers(4)
        if kind == 0:
            cv2.circle(img, (int(cx), int(cy)), int(r), color, -1, cv2.LINE_AA)
        elif kind == 1:
            size = (2 * r, 2 * r * rng.uniform(0.2, 1))
            box = cv2.boxPoints(((cx, cy), size, rng.uniform(0, 180)))
            cv2.fillPoly(img, [box.astype(np.int32)], color, cv2.LINE_AA)
        elif kind == 2:
            ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
            pts = np.stack([cx + r * np.cos(ang), cy + r * np.sin(ang)], 1)
            cv2.fillPoly(img, [pts.astype(np.int32)], color, cv2.LINE_AA)
        else:
            p2 = (int(cx + rng.normal() * r * 2), int(cy + rng.normal() * r * 2))
            thick = max(1, int(s * rng.uniform(0.003, 0.03)))
            cv2.line(img, (int(cx), int(cy)), p2, color, thick, cv2.LINE_AA)
    return img


def _periodic(rng: np.random.Generator, w: int, h: int, checker: bool) -> np.ndarray:
    xs, ys = _grid(w, h)
    a = rng.uniform(0, np.pi)
    u = (xs * np.cos(a) + ys * np.sin(a)) / rng.uniform(0.03, 0.25)
    v = (-xs * np.sin(a) + ys * np.cos(a)) / rng.uniform(0.03, 0.25)
    t = (np.floor(u) + np.floor(v)) % 2 if checker else 0.5 + 0.5 * np.sin(2 * np.pi * u)
    return _ramp(_colors(rng, 2), t)


def _photo(rng: np.random.Generator, w: int, h: int, path: str) -> np.ndarray:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read background image {path!r}")
    ih, iw = bgr.shape[:2]
    frac = rng.uniform(0.5, 1.0)
    cw = min(iw, int(frac * min(iw, ih * w / h)))
    ch = min(ih, max(1, int(cw * h / w)))
    x0, y0 = int(rng.integers(0, iw - cw + 1)), int(rng.integers(0, ih - ch + 1))
    crop = cv2.resize(bgr[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return crop[..., ::-1].astype(np.float64) / 255.0


def make_background(spec: BackgroundSpec, width: int, height: int) -> np.ndarray:
    """Render ``spec`` as an ``[height x width x 3]`` uint8 RGB image (deterministic per seed)."""
    rng = np.random.default_rng(spec.seed)
    f = min(1.0, _MAX_SIDE / max(width, height))
    w, h = max(2, round(width * f)), max(2, round(height * f))
    if spec.kind == "image":
        img = _photo(rng, width, height, str(spec.path))
    elif spec.kind == "noise":
        img = _noise(rng, width, height)
    elif spec.kind == "gradient":
        img = _gradient(rng, w, h)
    elif spec.kind == "shapes":
        img = _shapes(rng, w, h)
    elif spec.kind in ("checker", "stripes"):
        img = _periodic(rng, w, h, spec.kind == "checker")
    else:
        raise ValueError(f"unknown background kind {spec.kind!r}; expected {BACKGROUND_KINDS}")
    img = img.astype(np.float32)
    if img.shape[:2] != (height, width):
        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)
    sigma = rng.uniform(0.0, 1.5) * min(width, height) / 240.0  # mild defocus
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
