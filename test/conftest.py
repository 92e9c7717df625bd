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
