"""Parameter tables for the procedural shape generators.

Every generator declares its parameters once, in a dict of :class:`Uniform` (a float drawn
uniformly from ``[lo, hi]``; lengths in metres, angles in degrees, ratios unitless) and
:class:`Choice` (one of a few options) entries. Parameters are independent by construction:
dependent quantities are expressed as ratios (e.g. neck radius as a fraction of the body
radius), so every draw is a valid instance. The *typical* instance, used as the category's shape
prior, takes each range's midpoint (or the stated ``typical``) and each choice's ``typical``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ros_pose_estimation.core.errors import ConfigError


class Uniform(NamedTuple):
    """A float parameter drawn uniformly from ``[lo, hi]``."""

    lo: float
    hi: float
    doc: str
    typical: float | None = None

    def mean(self) -> float:
        return float(0.5 * (self.lo + self.hi) if self.typical is None else self.typical)


class Choice(NamedTuple):
    """A discrete parameter (bool or str) drawn from ``options`` with probabilities ``p``."""

    options: tuple
    typical: object
    doc: str
    p: tuple | None = None

    def mean(self) -> object:
        return self.typical


Table = dict[str, "Uniform | Choice"]


def sample_table(table: Table, rng: np.random.Generator) -> dict:
    """Draw one value per parameter, in the table's order (so a seed fixes the instance)."""
    out: dict = {}
    for name, spec in table.items():
        if isinstance(spec, Uniform):
            out[name] = round(float(rng.uniform(spec.lo, spec.hi)), 6)
        else:
            idx = int(rng.choice(len(spec.options), p=spec.p))
            value = spec.options[idx]
            out[name] = bool(value) if isinstance(value, (bool, np.bool_)) else value
    return out


def mean_table(table: Table) -> dict:
    """The typical instance: midpoints of ranges and typical choices."""
    return {name: spec.mean() for name, spec in table.items()}


def resolve(table: Table, params: dict | None) -> dict:
    """Fill missing parameters with typical values; unknown names or bad choices: ConfigError."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(table))
    if unknown:
        raise ConfigError(f"unknown shape parameters {unknown}; supported: {sorted(table)}")
    out = mean_table(table)
    for name, value in params.items():
        spec = table[name]
        if isinstance(spec, Choice) and value not in spec.options:
            raise ConfigError(f"parameter {name!r} must be one of {spec.options}, got {value!r}")
        out[name] = value if isinstance(spec, Choice) else float(value)
    return out
