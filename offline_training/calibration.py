"""What ``calibrate-nemo`` and ``calibrate-cse`` share: the error, the estimates' cache, the
report in words, the calibrated file.

Both tools estimate a labelled synthetic calibration set with a model's raw output, fit
:func:`ros_pose_estimation.core.view_correction.fit_view_correction` and write the model with
the correction. Estimation is the slow part (minutes on a CPU), so its arrays can be cached in
an ``.npz`` that remembers what made it (``source``) and is refused for other inputs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np


class CalibrationError(Exception):
    """Calibration could not run; ``code`` is the exit code (1: nothing usable in the data,
    2: bad inputs)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def cached_estimates(
    cache: str | Path | None, source: str, collect: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``collect()``'s arrays, read from ``cache`` when it exists (made from ``source``), else
    computed and written there (no cache: computed).

    Raises:
        CalibrationError: the cache was made from other inputs (code 2).
    """
    path = Path(cache) if cache else None
    if path is not None and path.is_file():
        with np.load(path) as saved:
            if str(saved["source"]) != source:
                raise CalibrationError(
                    f"{path} holds the estimates of {saved['source']}, not of {source}; "
                    "delete it or name another file", 2)  # fmt: skip
            return {key: saved[key] for key in saved.files if key != "source"}
    arrays = collect()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, source=source, **arrays)
    return arrays


def report(tool: str, info: dict, out: str | Path, device: str) -> str:
    """The fit in words: pairs used, the raw medians, the cross-validated medians."""
    lines = [f"{tool}: {info['category']}: {info['pairs']} of {info['objects']} estimates "
             f"within {info['max_error_deg']:g} deg used, median rotation error "
             f"{info['median_before_deg']:.2f} deg raw; cross-validated median with the "
             "correction:"]  # fmt: skip
    for widths, median in info["cv_median_deg"].items():
        mark = " <- kept" if widths == info["kept"] else ""
        lines.append(f"  kernel widths (rad) {widths}: {median:.2f} deg{mark}")
    if info["kept"] == "none":
        lines.append(f"  none beats the raw rotations by {100 * info['min_gain']:g} %: the "
                     "rotation is left alone")  # fmt: skip
    if "translation" in info:
        tr = info["translation"]
        lines.append(f"median centre error {tr['median_before_cm']:.2f} cm raw; "
                     "cross-validated with the correction:")  # fmt: skip
        for width, median in tr["cv_median_cm"].items():
            mark = " <- kept" if width == tr["kept"] else ""
            lines.append(f"  kernel width (rad) {width}: {median:.2f} cm{mark}")
        if tr["kept"] == "none":
            lines.append(f"  none beats the raw centres by {100 * info['min_gain']:g} %: the "
                         "translation is left alone")  # fmt: skip
    if info.get("stored") is False:
        lines.append("nothing to correct: the model is written without a correction")
    lines.append(f"wrote {out} ({info['estimate_seconds']:.0f} s of estimation; {device})")
    return "\n".join(lines)


def write_calibrated(src: str | Path, out: str | Path, read_checkpoint, correction, info: dict):
    """Write ``src``'s checkpoint payload (read and checked by the family's
    ``read_checkpoint``) to ``out`` with ``correction`` (a ``ViewCorrection``, or None: none)
    and ``meta.view_correction`` = ``info``. The weights are the file's own bytes: a float16
    export stays float16 and its meta keeps what it says."""
    from ros_pose_estimation.core.checkpoint_file import correction_entry, write_payload

    payload = dict(read_checkpoint(src))
    payload.pop("view_correction", None)
    payload.update(correction_entry(correction))
    payload["meta"] = dict(payload.get("meta") or {}, view_correction=info)
    return write_payload(out, payload)


def run_tool(tool: str, threads: int, fit: Callable[[], dict], out: str | Path,
             json_path: str | None) -> int:  # fmt: skip
    """A calibration command's body: ``threads`` torch CPU threads (0: torch's), ``fit()`` (the
    family's ``calibrate``), the report printed and ``json_path`` written; returns the exit
    code (:class:`CalibrationError`'s, said on stderr)."""
    import torch

    from offline_training.evaluation import describe_device

    if threads:
        torch.set_num_threads(threads)
    try:
        info = fit()
    except CalibrationError as exc:
        print(f"{tool}: error: {exc}", file=sys.stderr)
        return exc.code
    device = describe_device("cpu")
    print(report(tool, info, out, device))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(dict(info, device=device), indent=1))
    return 0
