"""benchmarks/estimate_fingerprint.py on a tiny generated BOP dataset with an untrained tiny
NeMo model: a recording repeats exactly, and compare reports any difference."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.estimate_fingerprint import main
from test.offline_training.test_nemo_evaluate import data  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def recorded(data, tmp_path_factory):  # noqa: F811
    """Two recordings of the same 3 objects (evaluate-nemo's tiny dataset and model)."""
    data_root, ckpt = data
    root = tmp_path_factory.mktemp("fingerprint")
    args = ["--data", str(data_root / "data"), "--objects", "3", "--nemo-checkpoint", str(ckpt),
            "--preset", "fast"]  # fmt: skip
    for name in ("a.npz", "b.npz"):
        assert main(["record", str(root / name), *args]) == 0
    return root


def test_a_recording_repeats_exactly(recorded, capsys):
    capsys.readouterr()
    assert main(["compare", str(recorded / "a.npz"), str(recorded / "b.npz")]) == 0
    out = capsys.readouterr().out
    assert "nemo_R: shape (3, 3, 3), max |difference| 0" in out
    assert "cse_ok: shape (3,)" in out and out.strip().endswith("identical")
    with np.load(recorded / "a.npz") as f:
        assert np.isfinite(f["nemo_t"]).all() and f["nemo_steps"].dtype.kind == "i"


def test_compare_reports_every_difference(recorded, capsys):
    with np.load(recorded / "a.npz") as f:
        arrays = dict(f)
    arrays["nemo_t"] = arrays["nemo_t"] + np.array([0.0, 0.0, 1e-7])
    arrays["extra"] = np.zeros(2)
    np.savez(recorded / "c.npz", **arrays)
    capsys.readouterr()
    assert main(["compare", str(recorded / "a.npz"), str(recorded / "c.npz")]) == 1
    out = capsys.readouterr().out
    assert "nemo_t: shape (3, 3), max |difference| 1e-07, 3 values differ" in out
    assert "extra: only in" in out and "nemo_R: shape (3, 3, 3), max |difference| 0\n" in out
    assert out.strip().endswith("DIFFERENT")
    assert main(["compare", str(recorded / "a.npz"), str(recorded / "missing.npz")]) == 2
