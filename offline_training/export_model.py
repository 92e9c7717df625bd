"""``export-model``: a trained checkpoint as a smaller file to ship (float16 weights).

    export-model out/runs/cse_mug/mug.pt models/cse/mug.pt --half

Reads a NeMo or CSE checkpoint (``weights_only=True``, validated by its own reader), stores
its floating-point weights as float16 (half the bytes) and writes it atomically. Geometry is
kept in float32: the template vertices and diameter of a CSE model (keys in
:data:`KEEP_FLOAT32`), and integer tensors (faces) are never touched; a NeMo model's neural
mesh (vertices, faces, vertex and clutter features) is kept whole (:data:`HALVED`). The
loaders need nothing special: ``load_state_dict`` copies each float16 tensor into the float32
parameter, so the model runs in float32 with rounded weights (measure it before shipping: the
bundled figures in BENCHMARKS are measured on the exported files).

Exit codes: 0 written, 2 unreadable / unknown checkpoint or bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

#: State-dict entries that stay float32 (geometry, not weights), by the last name component.
KEEP_FLOAT32 = frozenset({"template", "diameter", "vertices", "faces"})
#: The state dicts ``--half`` rounds, per checkpoint kind: a CSE model's whole ``model``; a NeMo
#: model's ``feature_net`` (almost all its weights), not its ``neural_mesh``, whose tensors
#: :class:`~ros_pose_estimation.nemo.neural_mesh.NeuralMesh` takes as stored.
HALVED = {"cse": ("model",), "nemo": ("feature_net",)}


def read_any(path: str | Path) -> tuple[str, dict]:
    """``(kind, payload)`` of a NeMo (``"nemo"``) or CSE (``"cse"``) checkpoint, validated by
    that kind's reader; CheckpointError when it is neither."""
    from ros_pose_estimation.core.checkpoint_file import load_tensors
    from ros_pose_estimation.core.errors import CheckpointError
    from ros_pose_estimation.cse import checkpoint as cse_ckpt
    from ros_pose_estimation.nemo import checkpoint as nemo_ckpt

    raw = load_tensors(path, "checkpoint")
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if fmt == cse_ckpt.FORMAT:
        return "cse", cse_ckpt.read_checkpoint(path)
    if fmt == nemo_ckpt.FORMAT:
        return "nemo", nemo_ckpt.read_checkpoint(path)
    raise CheckpointError(f"{path}: not a NeMo or CSE checkpoint of this project "
                          f"(format {fmt!r})")  # fmt: skip


def halve(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` with every floating tensor not in :data:`KEEP_FLOAT32` as float16."""
    out = {}
    for key, value in state.items():
        keep = key.rsplit(".", 1)[-1] in KEEP_FLOAT32
        if torch.is_tensor(value) and value.is_floating_point() and not keep:
            value = value.to(torch.float16)
        out[key] = value
    return out


def export(src: str | Path, dst: str | Path, half: bool = True,
           inference_tau: float | None = None, box_layers: int | None = None) -> Path:  # fmt: skip
    """Write ``src`` to ``dst`` (float16 weights with ``half``; a CSE model's Eq. 1
    temperature for inference set to ``inference_tau`` and its box-only depth layers to
    ``box_layers`` when given); returns ``dst``."""
    from ros_pose_estimation.core.checkpoint_file import write_payload
    from ros_pose_estimation.core.errors import ConfigError
    from ros_pose_estimation.cse.model import CseConfig

    kind, payload = read_any(src)
    payload = dict(payload)
    settings = {"inference_tau": None if inference_tau is None else float(inference_tau),
                "box_layers": None if box_layers is None else int(box_layers)}  # fmt: skip
    settings = {k: v for k, v in settings.items() if v is not None}
    if settings:
        if kind != "cse":
            flags = ", ".join("--" + k.replace("_", "-") for k in settings)
            raise ConfigError(f"{src}: {flags} applies to CSE (RGB-D) models only")
        config = {**payload["config"], **settings}
        CseConfig.from_dict(config)  # validated (tau > 0, box_layers >= 1)
        payload["config"] = config
    if half:  # a NeMo model's neural mesh stays float32: the renderer reads it as stored
        for part in HALVED[kind]:
            payload[part] = halve(payload[part])
    meta = dict(payload.get("meta") or {})
    previous = meta.get("exported_from")  # a re-export keeps the lineage
    meta.update(exported_from=str(src) if previous is None else f"{previous} -> {src}")
    if half or "weights_dtype" not in meta:
        meta["weights_dtype"] = "float16" if half else "float32"
    payload["meta"] = meta
    return write_payload(dst, payload)


def main(argv: list[str] | None = None) -> int:
    from ros_pose_estimation.core.errors import PoseEstimationError

    p = argparse.ArgumentParser(prog="export-model", description=__doc__.split("\n")[0])
    p.add_argument("src", help="trained checkpoint (.pt)")
    p.add_argument("dst", help="file to write")
    p.add_argument("--half", action="store_true", help="store the weights as float16")
    p.add_argument("--inference-tau", type=float, default=None, metavar="T",
                   help="CSE only: Eq. 1's temperature the estimator uses with this model "
                   "(default: its training temperature)")  # fmt: skip
    p.add_argument("--box-layers", type=int, default=None, metavar="N",
                   help="CSE only: depth layers of a box-only detection the estimator tries "
                   "with this model (default: one; CseInferenceConfig.box_layers)")  # fmt: skip
    args = p.parse_args(argv)
    try:
        out = export(args.src, args.dst, args.half, args.inference_tau, args.box_layers)
    except (PoseEstimationError, OSError) as exc:
        print(f"export-model: {exc}", file=sys.stderr)
        return 2
    size = out.stat().st_size / 1e6
    dtype = "float16" if args.half else "as stored"
    print(f"export-model: wrote {out} ({size:.1f} MB, weights {dtype})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
