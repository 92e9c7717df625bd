"""Shared pytest fixtures.

The tests run with or without ``source scripts/env.sh``; tests that need ROS (marker ``ros``)
skip themselves with the reason when rclpy or the generated interfaces cannot be imported.
"""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> int:
    """Isolate DDS traffic: a random ``ROS_DOMAIN_ID`` in 1..100 for this test.

    Also keeps discovery on this machine (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) unless
    the environment already chose a range. Child processes inherit both through ``os.environ``.
    """
    domain = random.SystemRandom().randint(1, 100)  # independent of seeded global RNGs
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    if not os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE"):
        monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return domain


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test: small tensors run faster and steadier on a busy
    2-core machine (use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
