"""benchmarks.bench_pipeline's first-call probe: one model sees batches of 1..K of the frame's
first object, each timed as a first call and as a repeat, the tracker reset before each."""

import numpy as np

from benchmarks.bench_pipeline import Frame, first_calls
from ros_pose_estimation.core.camera import Intrinsics
from ros_pose_estimation.core.estimation import Detection


class FakePipeline:
    def __init__(self):
        self.calls, self.resets = [], 0

    def reset(self):
        self.resets += 1

    def process(self, rgb, dets, intr, stamp, depth):
        self.calls.append([(d.category, tuple(d.box_xyxy)) for d in dets])


def test_first_calls_batches_one_object():
    intr = Intrinsics(100.0, 100.0, 31.5, 23.5, 64, 48)
    dets = [Detection("mug", [1.0, 2.0, 20.0, 30.0]), Detection("bottle", [30, 2, 50, 40])]
    frame = Frame(np.zeros((48, 64, 3), np.uint8), None, intr, dets, "test")
    pipe = FakePipeline()
    rows = first_calls(pipe, frame, 3)
    assert [r["objects"] for r in rows] == [1, 2, 3]
    assert all(r["first_ms"] >= 0 and r["repeat_ms"] >= 0 for r in rows)
    assert pipe.resets == 6 and [len(c) for c in pipe.calls] == [1, 1, 2, 2, 3, 3]
    assert {cat for call in pipe.calls for cat, _ in call} == {"mug"}
    assert pipe.calls[5][2][1][0] == 1.0 + 2 * 2  # repeats are shifted 2 px each
