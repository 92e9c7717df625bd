"""Cost of one refinement step: an Adam step vs a Levenberg-Marquardt iteration.

    python -m benchmarks.bench_refine_step [--checkpoint models/nemo/mug.pt] [--poses 1 4 8]
        [--device cpu] [--threads 1] [--json out.json]

For ``N`` poses of one detection (feature map of the model's crop, an oracle map rendered from
the mesh's own features at a known pose, hypotheses 5-15 deg away from it) it times, best of
``--rounds`` rounds of ``--repeats`` calls (ms per call):

* ``adam``: what an Adam step of :func:`ros_pose_estimation.nemo.refine.refine` evaluates:
  render-and-compare forward and the gradient (autograd) w.r.t. the pose parameters;
* ``lm``: one Levenberg-Marquardt iteration's
  :meth:`~ros_pose_estimation.nemo.gauss_newton.GaussNewtonRenderCompare.linearise`
  (rasterisation, exact loss, gradient and Gauss-Newton Hessian);
* ``eval``: render-and-compare forward only (no gradient).

Without ``--checkpoint`` the model is an untrained real-size one (1000-vertex cuboid, 128-d
features): the cost of a step does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from benchmarks.device_info import describe


def _best_ms(fn, rounds: int, repeats: int, sync) -> float:
    for _ in range(3):
        fn()
    best = math.inf
    for _ in range(rounds):
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        best = min(best, (time.perf_counter() - start) / repeats * 1e3)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", help="NeMo checkpoint (default: untrained real-size model)")
    p.add_argument("--poses", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)

    import torch

    from ros_pose_estimation.core.rotations import axis_angle_to_matrix, viewpoint_to_matrix
    from ros_pose_estimation.nemo.checkpoint import load_checkpoint
    from ros_pose_estimation.nemo.gauss_newton import GaussNewtonRenderCompare
    from ros_pose_estimation.nemo.model import NemoConfig, NemoModel
    from ros_pose_estimation.nemo.pose_param import compose_pose, initial_params
    from ros_pose_estimation.nemo.scoring import (
        Observation,
        clutter_similarity,
        oracle_features,
        render_compare,
    )

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    model = (
        load_checkpoint(args.checkpoint)[0] if args.checkpoint else NemoModel(NemoConfig("mug"))
    )
    mesh = model.mesh.to(dev)
    side = model.config.crop_size // model.config.stride
    f = 1.2 * side  # a crop seeing the object over ~2/3 of its width
    K = torch.tensor([[f, 0, (side - 1) / 2], [0, f, (side - 1) / 2], [0, 0, 1.0]], device=dev)
    R_true = torch.as_tensor(viewpoint_to_matrix(0.7, 0.4, 0.1), dtype=torch.float32).to(dev)
    extent = float((mesh.vertices.amax(0) - mesh.vertices.amin(0)).max())
    t_true = torch.tensor([0.0, 0.0, 2.0 * extent], device=dev)
    feats = oracle_features(mesh, R_true[None], t_true[None], K[None], (side, side))
    anchor = torch.full((1, 2), (side - 1) / 2, device=dev)
    obs = Observation(feats, clutter_similarity(feats, mesh.clutter), K[None], anchor,
                      torch.full((1,), 0.66 * side, device=dev))  # fmt: skip

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    rows = []
    gen = torch.Generator().manual_seed(0)
    for n in args.poses:
        axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
        angle = torch.deg2rad(5.0 + 10.0 * torch.rand(n, 1, generator=gen))
        r0 = (axis_angle_to_matrix(axis * angle).to(dev) @ R_true).contiguous()
        x = initial_params(torch.full((n,), float(t_true[2]) * 1.05, device=dev))
        owner = torch.zeros(n, dtype=torch.long, device=dev)
        K_n, anchor_n, unit = K.expand(n, 3, 3), anchor.expand(n, 2), obs.offset_unit[owner]

        def pose(params, index, r0=r0, K_n=K_n, anchor_n=anchor_n, unit=unit):
            parts = (r0[index], K_n[index], anchor_n[index], unit[index])
            return compose_pose(params, *(part.to(params) for part in parts))

        every_row = torch.arange(n, device=dev)

        def adam(x=x, every_row=every_row, owner=owner, pose=pose):
            xa = x.clone().requires_grad_(True)
            res = render_compare(mesh, *pose(xa, every_row), obs, owner)
            torch.autograd.grad(res.loss.sum(), xa)

        objective = GaussNewtonRenderCompare(mesh, obs, "nemo")

        def lm(x=x, owner=owner, pose=pose, objective=objective):
            objective.linearise(pose, x, owner)

        def evaluate(x=x, every_row=every_row, owner=owner, pose=pose):
            with torch.no_grad():
                render_compare(mesh, *pose(x, every_row), obs, owner)

        row = {"poses": n}
        for name, fn in (("adam", adam), ("lm", lm), ("eval", evaluate)):
            row[name] = _best_ms(fn, args.rounds, args.repeats, sync)
        rows.append(row)

    device = describe(args.device)
    label = args.checkpoint or "untrained NemoConfig('mug') (1000 vertices, 128-d features)"
    print(f"device: {device}")
    print(f"model: {label}; feature map {side} x {side}; ms per call, best of {args.rounds}")
    print(f"{'poses':>5s} {'adam step':>10s} {'LM iteration':>13s} {'eval only':>10s}")
    for r in rows:
        print(f"{r['poses']:5d} {r['adam']:10.2f} {r['lm']:13.2f} {r['eval']:10.2f}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"device": device, "model": label, "rows": rows}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
