"""A rendered RGB-D frame of the category template for the oracle CSE model.

The oracle (:class:`offline_training.cse.oracle.OracleModel`, re-exported here) renders exact
features at the true pose: Eq. 1-2 then map every object cell to (about) its true template
point, so the estimator's back end must recover the true pose, size and centre.
"""

from __future__ import annotations

import numpy as np
import torch

from offline_training.cse.oracle import OracleModel, fourier_codes  # noqa: F401
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.rotations import random_rotations
from ros_pose_estimation.render import rasterize


def oracle_frame(category: str = "mug", seed: int = 0, wall: float | None = 0.9,
                 stretch=None, **kw):  # fmt: skip
    """A 320 x 240 frame: ``(model, rgb, depth_m, mask, intrinsics, R, t)`` with the category's
    template (scaled per axis by ``stretch [3]``, if given) at a random rotation ~0.5 m in front
    of the camera and (optionally) a wall; ``kw``: the model's CseConfig."""
    rng = np.random.default_rng(seed)
    intr = Intrinsics(277.0, 277.0, 159.5, 119.5, 320, 240)
    R = random_rotations(1, rng)[0]
    t = np.array([rng.uniform(-0.05, 0.05), rng.uniform(-0.04, 0.04), rng.uniform(0.45, 0.6)])
    model = OracleModel(category, R, t, stretch, **kw)
    K = torch.as_tensor(intr.K, dtype=torch.float32)
    frag = rasterize(
        model.template * model.stretch, model.faces, K,
        torch.as_tensor(R, dtype=torch.float32)[None],
        torch.as_tensor(t, dtype=torch.float32)[None], (240, 320),
    )  # fmt: skip
    mask = frag.mask[0].numpy()
    depth = frag.depth[0].numpy().astype(np.float32)
    if wall is not None:
        depth[~mask] = wall
    rgb = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    return model, rgb, depth, mask, intr, R, t


def mask_box(mask: np.ndarray) -> list[float]:
    rows, cols = np.nonzero(mask)
    return [cols.min() - 0.5, rows.min() - 0.5, cols.max() + 0.5, rows.max() + 0.5]
