"""``average-models``: a "model soup", the weight average of fine-tuned models of one lineage.

    average-models out/runs/laptop_div2/laptop.pt out/runs/laptop_div3/laptop.pt \\
        --out out/runs/laptop_soup/laptop.pt

Models fine-tuned from the same checkpoint stay in one basin of the loss, and the average of
their weights is usually as good as the best of them and often better on data none of them was
tuned on (Wortsman et al., "Model soups", ICML 2022; stochastic weight averaging is the same idea
along one run). The average costs nothing at run time: the result is one model of the same size.

What is averaged (weights ``w_i``, uniform unless ``--weights`` is given, normalised to sum 1):
- every floating tensor of the feature network, batch-norm running statistics included;
- NeMo: the neural mesh's vertex features, then each re-normalised to unit length (the
  estimator compares unit features); its clutter bank is a queue of observed background
  features, not a parameter, so the soup keeps an interleaved share of each model's bank
  (entry ``j`` from model ``j mod k``: the bank keeps its size and each model's share is
  ``1 / k``);
- CSE: the model's floating tensors (the encoder, the template's learned embeddings).
Batch-norm step counters take the largest; other integer tensors (faces) come from the first
model and must match across the ingredients, as must the geometry (``vertices``,
``template``, ``diameter``), the family, the category and the config: models that do not share
them are not of one lineage.

The soup has no view correction (the average of two corrections is not the correction of the
average): fit one with ``calibrate-nemo`` / ``calibrate-cse``. Exit codes: 0 written, 2 bad
input (unreadable checkpoint, models that do not match, bad weights).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from ros_pose_estimation.core.errors import CheckpointError, ConfigError

#: Entries that are geometry, not learned weights: they must be equal across the ingredients.
GEOMETRY = frozenset({"vertices", "template", "diameter", "faces"})


def soup_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    """``n`` weights summing to 1: uniform, or ``weights`` normalised (all >= 0, sum > 0)."""
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ConfigError(f"--weights has {len(weights)} values for {n} models")
    if any(not w >= 0 for w in weights) or sum(weights) <= 0:
        raise ConfigError(f"--weights must be >= 0 with a positive sum, got {list(weights)}")
    total = float(sum(weights))
    return [float(w) / total for w in weights]


def average_state(
    states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float], where: str
) -> dict[str, torch.Tensor]:
    """The weighted average of state dicts with the same keys and shapes.

    Floating tensors are averaged in float32 and stored in the first model's dtype; batch-norm
    step counters take the largest; other integer tensors and the :data:`GEOMETRY` entries are
    taken from the first model and must be equal (geometry within 1e-6 relative) in every
    other one.

    Raises:
        CheckpointError: keys, shapes or geometry that differ, naming the first offender.
    """
    first = states[0]
    for i, state in enumerate(states[1:], start=1):
        if set(state) != set(first):
            extra = sorted(set(state) ^ set(first))[:3]
            raise CheckpointError(f"{where}: model {i + 1} has other weights than model 1 "
                                  f"(e.g. {extra}): not one architecture")  # fmt: skip
        for key, value in state.items():
            if tuple(value.shape) != tuple(first[key].shape):
                shapes = f"{tuple(value.shape)} in model {i + 1}, {tuple(first[key].shape)}"
                raise CheckpointError(
                    f"{where}: {key} is {shapes} in model 1: not one architecture"
                )
    out = {}
    for key, ref in first.items():
        name = key.rsplit(".", 1)[-1]
        if name == "num_batches_tracked":  # a step counter, not a weight
            out[key] = torch.stack([state[key] for state in states]).max()
            continue
        if name in GEOMETRY or not ref.is_floating_point():
            for i, state in enumerate(states[1:], start=1):
                same = (torch.allclose(state[key].float(), ref.float(), rtol=1e-6, atol=1e-7)
                        if ref.is_floating_point() else torch.equal(state[key], ref))  # fmt: skip
                if not same:
                    raise CheckpointError(
                        f"{where}: {key} differs between model 1 and model {i + 1}; a soup "
                        f"needs models of one lineage (fine-tuned from one checkpoint)"
                    )
            out[key] = ref.clone()
            continue
        acc = torch.zeros(ref.shape, dtype=torch.float32)
        for w, state in zip(weights, states, strict=True):
            acc += w * state[key].float()
        out[key] = acc.to(ref.dtype)
    return out


def _mesh_soup(meshes: Sequence[dict], weights: Sequence[float]) -> dict[str, torch.Tensor]:
    """NeMo neural mesh: averaged unit vertex features, interleaved clutter banks."""
    learned = [{k: m[k] for k in ("vertices", "faces", "features")} for m in meshes]
    out = average_state(learned, weights, "neural_mesh")
    out["features"] = torch.nn.functional.normalize(out["features"].float(), dim=1).to(
        meshes[0]["features"].dtype
    )
    banks = [m["clutter"] for m in meshes]
    if len({tuple(b.shape) for b in banks}) != 1:
        raise CheckpointError("neural_mesh: the clutter banks differ in size")
    clutter = banks[0].clone()
    for j in range(len(banks)):
        clutter[j :: len(banks)] = banks[j][j :: len(banks)]
    out["clutter"] = clutter
    out["clutter_ptr"] = torch.zeros((), dtype=torch.int64)
    return out


def _full_config(kind: str, config: dict) -> dict:
    """``config`` with its family's defaults filled in (an older file that lacks a later
    option, or an export that set an inference option to its default, is the same model)."""
    if kind == "nemo":
        from ros_pose_estimation.nemo.model import NemoConfig as Config
    else:
        from ros_pose_estimation.cse.model import CseConfig as Config
    return Config.from_dict(dict(config)).to_dict()


def soup(paths: Sequence[str | Path], out: str | Path,
         weights: Sequence[float] | None = None) -> Path:  # fmt: skip
    """Average the checkpoints at ``paths`` (two or more NeMo or CSE models of one lineage)
    into ``out``; returns ``out``. See the module docstring for what is averaged.

    Raises:
        CheckpointError: unreadable files, mixed families, categories or configs.
        ConfigError: fewer than two models or bad ``weights``.
    """
    from offline_training.export_model import read_any
    from ros_pose_estimation.core.checkpoint_file import write_payload

    if len(paths) < 2:
        raise ConfigError(f"a soup needs two or more models, got {len(paths)}")
    w = soup_weights(len(paths), weights)
    loaded = [read_any(p) for p in paths]
    kind, first = loaded[0]
    for path, (k, payload) in zip(paths[1:], loaded[1:], strict=True):
        for what, a, b in (("family", kind, k), ("category", first["category"],
                           payload["category"]), ("config", _full_config(kind, first["config"]),
                           _full_config(k, payload["config"]))):  # fmt: skip
            if a != b:
                raise CheckpointError(
                    f"{path}: its {what} differs from {paths[0]}'s "
                    f"({b!r} against {a!r}); a soup needs one lineage"
                )
    payloads = [p for _, p in loaded]
    result = {key: first[key] for key in ("format", "format_version", "category", "config")}
    if kind == "nemo":
        result["feature_net"] = average_state([p["feature_net"] for p in payloads], w,
                                              "feature_net")  # fmt: skip
        result["neural_mesh"] = _mesh_soup([p["neural_mesh"] for p in payloads], w)
    else:
        result["model"] = average_state([p["model"] for p in payloads], w, "model")
    meta = {key: value for key, value in dict(first.get("meta") or {}).items()
            if key in ("trainer", "train_config", "backbone_init", "supervised")}  # fmt: skip
    meta.update(soup_of=[str(p) for p in paths], soup_weights=w,
                step=max(int((p.get("meta") or {}).get("step", 0)) for p in payloads),
                note="weight average (average-models); no view correction: fit one with "
                "calibrate-nemo / calibrate-cse")  # fmt: skip
    result["meta"] = meta
    return write_payload(out, result)


def main(argv: list[str] | None = None) -> int:
    from ros_pose_estimation.core.errors import PoseEstimationError

    p = argparse.ArgumentParser(prog="average-models", description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", help="two or more checkpoints of one lineage (.pt)")
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--weights", type=float, nargs="+", default=None,
                   help="one weight per model (normalised; default uniform)")  # fmt: skip
    args = p.parse_args(argv)
    try:
        out = soup(args.models, args.out, args.weights)
    except (PoseEstimationError, OSError) as exc:
        print(f"average-models: {exc}", file=sys.stderr)
        return 2
    print(f"average-models: wrote {out} (the average of {len(args.models)} models; "
          f"fit its view correction with calibrate-nemo / calibrate-cse)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
