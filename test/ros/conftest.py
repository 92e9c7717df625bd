"""Fixtures of the interface tests: the project's rosbags typestore (or a skip naming why not)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def store():
    pytest.importorskip("rosbags", reason="rosbags is part of the [data] extra")
    from offline_training.ros_types import typestore

    return typestore()
