"""Glossy objects: a Blinn-Phong highlight on top of the renderer's Lambertian shading.

The renderer (:mod:`.render`) shades every surface as matte: albedo times light. Real mugs,
cans, bottles and camera bodies are glazed, lacquered, metal or plastic, and show highlights:
small, bright, white spots that move with the viewpoint and light, which a network trained on
matte renders has never seen. :class:`Gloss` gives an object such a highlight. For a light of
unit direction ``l`` (towards the light), intensity ``I`` and colour ``c``, a surface point of
unit normal ``n`` seen along unit ``v`` (towards the camera) gets

    strength * I * c * max(n . h, 0) ** shininess,    h = (l + v) / |l + v|,

where the point faces the light (``n . l > 0``) and is not in its shadow. The scene's lights
shine from 20-90 deg above the table, and a mirror highlight on an upright side needs a light
near the horizon, so most highlights from them sit on tops and rims; a glossy scene therefore
also gets reflected lights (:func:`sample_reflected`, ``Scene.reflected``): a window or a lamp
low in the room, seen only in the highlights (their diffuse share is part of the ambient).
The highlight has the light's colour, not the albedo's (a dielectric's specular reflection).
``strength`` is the share of the light reflected at the highlight's peak (0-1); ``shininess``
its sharpness (10: a broad sheen, 200: a small hot spot).

:class:`GlossConfig` says which objects of a dataset are glossy and how: each object is glossy
with probability ``share``, its strength drawn uniformly and its shininess log-uniformly from
the given ranges. ``generate-dataset --gloss SHARE`` draws from a generator of its own
(``[seed, 3, layout]``, :mod:`.dataset`), so a dataset with gloss has the geometry, layouts,
noise and labels of the same seed without it; ``GlossConfig()`` (share 0) changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Gloss", "GlossConfig", "highlight", "sample_gloss", "sample_reflected"]


@dataclass(frozen=True)
class Gloss:
    """One object's highlight: peak ``strength`` (0-1) and Blinn-Phong ``shininess`` (> 0)."""

    strength: float
    shininess: float


@dataclass(frozen=True)
class GlossConfig:
    """Which objects of a dataset are glossy (see the module docstring).

    Attributes:
        share: probability that an object is glossy (0: none, the default; 1: all).
        strength: ``(lo, hi)`` range of the peak strength, drawn uniformly.
        shininess: ``(lo, hi)`` range of the exponent, drawn log-uniformly.
    """

    share: float = 0.0
    strength: tuple[float, float] = (0.2, 0.8)
    shininess: tuple[float, float] = (10.0, 200.0)

    @property
    def is_off(self) -> bool:
        return self.share <= 0.0

    def validate(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"gloss share must lie in [0, 1], got {self.share}")
        lo, hi = self.strength
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"gloss strength must satisfy 0 <= lo <= hi <= 1, got {lo}..{hi}")
        lo, hi = self.shininess
        if not 0.0 < lo <= hi:
            raise ValueError(f"gloss shininess must satisfy 0 < lo <= hi, got {lo}..{hi}")


def sample_gloss(n: int, cfg: GlossConfig, rng: np.random.Generator) -> list[Gloss | None]:
    """``n`` objects' highlights (None: matte), drawn from ``rng`` as ``cfg`` says. Always
    draws the same number of values per object, so object ``k``'s draw does not depend on
    whether the objects before it came out glossy."""
    out: list[Gloss | None] = []
    log_lo, log_hi = math.log(cfg.shininess[0]), math.log(cfg.shininess[1])
    for _ in range(n):
        u = rng.random(3)
        if u[0] < cfg.share:
            strength = cfg.strength[0] + u[1] * (cfg.strength[1] - cfg.strength[0])
            out.append(Gloss(float(strength), float(math.exp(log_lo + u[2] * (log_hi - log_lo)))))
        else:
            out.append(None)
    return out


def sample_reflected(rng: np.random.Generator, n: int = 1) -> list[tuple[np.ndarray, float]]:
    """``n`` reflected lights ``(unit world direction [3], intensity)``: azimuth uniform,
    elevation 0-40 deg, intensity 0.5-1.0."""
    out = []
    for _ in range(n):
        az, el = rng.uniform(0.0, 2.0 * np.pi), np.deg2rad(rng.uniform(0.0, 40.0))
        d = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
        out.append((d, float(rng.uniform(0.5, 1.0))))
    return out


def highlight(normals: np.ndarray, view: np.ndarray, light: np.ndarray,
              shininess: float) -> np.ndarray:  # fmt: skip
    """``[M]`` Blinn-Phong term ``max(n . h, 0) ** shininess`` of unit ``normals [M x 3]`` seen
    along unit ``view [M x 3]`` (surface -> camera) under a light of unit direction ``light
    [3]`` (surface -> light); 0 where the surface faces away from the light."""
    n = np.asarray(normals, dtype=np.float64)
    half = np.asarray(view, dtype=np.float64) + np.asarray(light, dtype=np.float64)[None, :]
    half /= np.maximum(np.linalg.norm(half, axis=1, keepdims=True), 1e-12)
    cos_h = np.clip(np.einsum("ij,ij->i", n, half), 0.0, None)
    facing = n @ np.asarray(light, dtype=np.float64) > 0.0
    return np.where(facing, cos_h**shininess, 0.0)
