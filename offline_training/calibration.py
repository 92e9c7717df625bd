"""What ``calibrate-nemo`` and ``calibrate-cse`` share: the error, the estimates' cache, the
report in words, the calibrated file.

Both tools estimate a labelled synthetic calibration set with a model's raw output, fit
:func:`ros_pose_estimation.core.view_correction.fit_view_correction` and write the model with
the correction. Estimation is the slow part (minutes on a CPU), so its arrays can be cached in
an ``.npz`` that remembers what made it (``source``) and is refused for other inputs.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from offline_training.cli_args import output_problem


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
        return _read_estimates(path, source)
    arrays = collect()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, source=source, **arrays)
    return arrays


def _read_estimates(path: Path, source: str) -> dict[str, np.ndarray]:
    """The arrays of an estimates file that this tool wrote for ``source`` (numeric arrays
    only: nothing is unpickled).

    Raises:
        CalibrationError: not such a file (damaged, another kind of file) or made from other
            inputs (code 2).
    """
    not_ours = (f"{path} is not an estimates file written by this tool (a .npz of arrays and "
                "their 'source'); delete it or name another file")  # fmt: skip
    try:
        saved = np.load(path, allow_pickle=False)
        if not isinstance(saved, np.lib.npyio.NpzFile):  # a single .npy array
            raise CalibrationError(not_ours, 2)
        with saved:
            if "source" not in saved.files:
                raise CalibrationError(not_ours, 2)
            made_from = str(saved["source"])
            arrays = {key: saved[key] for key in saved.files if key != "source"}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise CalibrationError(f"{not_ours} ({type(exc).__name__})", 2) from None
    if made_from != source:
        raise CalibrationError(f"{path} holds the estimates of {made_from}, not of {source}; "
                               "delete it or name another file", 2)  # fmt: skip
    return arrays


def _widths(lines: list[str], cv: dict, kept: str, label: str, unit: str,
            raw: tuple[str, str], min_gain: float) -> None:
    """One line per kernel width tried, the kept one marked, or why none was kept (``raw``:
    what was estimated, what is then left alone)."""
    for widths, median in cv.items():
        mark = " <- kept" if widths == kept else ""
        lines.append(f"  {label} (rad) {widths}: {median:.2f} {unit}{mark}")
    if kept == "none":
        lines.append(f"  none beats the raw {raw[0]} by {100 * min_gain:g} %: the {raw[1]} is "
                     "left alone")  # fmt: skip


def report(tool: str, info: dict, out: str | Path, device: str) -> str:
    """The fit in words: pairs used, the raw medians, the cross-validated medians."""
    lines = [f"{tool}: {info['category']}: {info['pairs']} of {info['objects']} estimates "
             f"within {info['max_error_deg']:g} deg used, median rotation error "
             f"{info['median_before_deg']:.2f} deg raw; cross-validated median with the "
             "correction:"]  # fmt: skip
    gain = info.get("min_gain", 0.0)  # (fits before the 3 % rule lack it; they keep a width)
    _widths(lines, info["cv_median_deg"], info["kept"], "kernel widths", "deg",
            ("rotations", "rotation"), gain)
    if "translation" in info:
        tr = info["translation"]
        lines.append(f"median centre error {tr['median_before_cm']:.2f} cm raw; "
                     "cross-validated with the correction:")  # fmt: skip
        _widths(lines, tr["cv_median_cm"], tr["kept"], "kernel width", "cm",
                ("centres", "translation"), gain)
    if "size" in info:
        sz = info["size"]
        gain = ", ".join(f"{g:.3f}" for g in sz["gain"])
        lines.append(f"median relative size error {sz['median_before_pct']:.1f} % raw, "
                     f"{sz['cv_median_pct']:.1f} % cross-validated with the factors ({gain}) "
                     + ("<- kept" if sz["kept"] else "(not kept: the size is left alone)"))
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

    for path, option in ((out, "--out"), (json_path, "--json")):
        problem = output_problem(str(path) if path else None, option)
        if problem:  # said before minutes of estimation, not after
            print(f"{tool}: error: {problem}", file=sys.stderr)
            return 2
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


def fit_and_write(
    category: str,
    checkpoint: str | Path,
    data: str | Path,
    split: str,
    out: str | Path | None,
    read_checkpoint: Callable,
    selection: tuple,
    estimate: Callable[[], dict[str, np.ndarray]],
    fit: Callable[[dict[str, np.ndarray]], object],
    cache: str | Path | None = None,
    info_extra: dict | None = None,
    empty_hint: str = "",
) -> dict:
    """What both calibration tools do once their model and data are loaded: the raw estimates
    (``estimate()``, through the ``cache`` made from ``checkpoint``, ``data``, ``split`` and
    ``selection``), the correction (``fit(arrays)``), and ``checkpoint``'s payload written to
    ``out`` (default: ``checkpoint``) with it, unless it corrects nothing; returns the fit's
    ``info`` with ``category``, ``data``, ``split``, ``info_extra``, ``estimate_seconds`` and
    ``stored``.

    Raises:
        CalibrationError: a stale cache (code 2); no estimate, or too few usable ones (code 1).
    """
    from ros_pose_estimation.core.errors import InputError

    start = time.perf_counter()
    source = "|".join(map(str, (Path(checkpoint).resolve(), Path(data).resolve(), split,
                                *selection)))  # fmt: skip
    try:
        arrays = cached_estimates(cache, source, estimate)
    except OSError as exc:  # a file of the dataset missing or damaged, found while estimating
        raise CalibrationError(str(exc), 2) from None
    seconds = time.perf_counter() - start
    if len(arrays["R_est"]) == 0:
        raise CalibrationError(f"no {category} {empty_hint}in {data}/{split}; make a calibration "
                               f"set with generate-dataset --category {category}", 1)  # fmt: skip
    try:
        correction = fit(arrays)
    except InputError as exc:
        raise CalibrationError(str(exc), 1) from None
    info = dict(correction.info, category=category, data=str(Path(data).resolve()), split=split,
                **(info_extra or {}), estimate_seconds=round(seconds, 1))  # fmt: skip
    info["stored"] = not correction.changes_nothing
    stored = dataclasses.replace(correction, info=info) if info["stored"] else None
    write_calibrated(checkpoint, checkpoint if out is None else out, read_checkpoint, stored,
                     info)  # fmt: skip
    return info
