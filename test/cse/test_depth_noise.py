"""The depth noise read from the depth image (ros_pose_estimation/cse/depth_noise.py): a
tilted, noisy plane gives its noise back, edges and holes do not move it."""

from __future__ import annotations

import numpy as np
import pytest

from ros_pose_estimation.core.errors import InputError
from ros_pose_estimation.cse.depth_noise import depth_noise


def _tilted_plane(sigma, h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    v, u = np.mgrid[0:h, 0:w]
    z = 2.0 + 0.004 * u - 0.003 * v  # a slanted surface: exact second differences 0
    return z + rng.normal(0.0, sigma, z.shape)


@pytest.mark.parametrize("sigma", [0.001, 0.005, 0.02])
def test_a_noisy_plane_gives_its_noise_back(sigma):
    z = _tilted_plane(sigma)
    assert depth_noise(z, np.ones(z.shape, bool)) == pytest.approx(sigma, rel=0.1)


def test_an_exact_surface_reads_no_noise():
    assert depth_noise(_tilted_plane(0.0), np.ones((120, 160), bool)) == pytest.approx(0.0,
                                                                                        abs=1e-9)


def test_edges_and_holes_hardly_move_it():
    z = _tilted_plane(0.01)
    z[:, 80:] += 0.5  # a step: an object's edge
    z[::7, ::5] = 0.0  # holes
    assert depth_noise(z, np.ones(z.shape, bool)) == pytest.approx(0.01, rel=0.15)


def test_only_the_region_counts():
    z = _tilted_plane(0.002)
    z[:, 80:] = _tilted_plane(0.03, seed=1)[:, 80:]
    region = np.zeros(z.shape, bool)
    region[10:100, 5:70] = True
    assert depth_noise(z, region) == pytest.approx(0.002, rel=0.15)


def test_too_few_pixels_give_none_and_shapes_are_checked():
    z = _tilted_plane(0.01)
    region = np.zeros(z.shape, bool)
    region[5, 5:9] = True  # 2 triples
    assert depth_noise(z, region) is None
    assert depth_noise(z, np.zeros(z.shape, bool)) is None
    with pytest.raises(InputError):
        depth_noise(z, np.ones((10, 10), bool))
