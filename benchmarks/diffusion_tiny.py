"""Both diffusion generators with tiny random models in one run (``benchmarks/gpu.sh``'s
``diffusion`` step): :mod:`benchmarks.zero123_tiny` then :mod:`benchmarks.controlnet_tiny`,
their results in one JSON ``{"zero123": ..., "controlnet": ...}``::

    python -m benchmarks.diffusion_tiny [--views 4] [--images 2] [--zero123-steps 50] \\
        [--controlnet-steps 30] [--controlnet-data BOP_DIR --controlnet-split test] \\
        [--device cuda --fp16] [--json out.json]

A run that fails is recorded as ``{"exit": 1, "error": ...}`` (traceback on stderr) and the
other still runs; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import traceback
from pathlib import Path

from benchmarks import controlnet_tiny, zero123_tiny


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="diffusion_tiny", description=__doc__.split("\n")[0])
    p.add_argument("--views", type=int, default=4, help="Zero-1-to-3 views (default 4)")
    p.add_argument("--images", type=int, default=2, help="ControlNet images (default 2)")
    p.add_argument("--zero123-steps", type=int, default=50, help="DDIM steps (default 50)")
    p.add_argument("--controlnet-steps", type=int, default=30, help="DDIM steps (default 30)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true", help="float16 weights (CUDA)")
    p.add_argument("--controlnet-data",
                   help="ControlNet: enhance this BOP dataset (no open3d needed) instead of "
                   "rendering one")  # fmt: skip
    p.add_argument("--controlnet-split", default="train", help="its split (default train)")
    p.add_argument("--json", help="write the combined result here")
    args = p.parse_args(argv)
    common = ["--device", args.device] + (["--fp16"] if args.fp16 else [])
    cn_data = (["--data", args.controlnet_data, "--split", args.controlnet_split]
               if args.controlnet_data else [])  # fmt: skip
    results, code = {}, 0
    with tempfile.TemporaryDirectory() as tmp:
        runs = (
            ("zero123", zero123_tiny.main,
             ["--views", str(args.views), "--steps", str(args.zero123_steps)]),
            ("controlnet", controlnet_tiny.main,
             ["--images", str(args.images), "--steps", str(args.controlnet_steps), *cn_data]),
        )  # fmt: skip
        for name, run, extra in runs:
            path = Path(tmp) / f"{name}.json"
            try:
                rc = run([*extra, *common, "--json", str(path)])
            except (Exception, SystemExit) as exc:  # recorded, reported; the other still runs
                traceback.print_exc()
                results[name] = {"exit": 1, "error": f"{type(exc).__name__}: {exc}"}
                code = 1
                continue
            code = code or rc
            results[name] = json.loads(path.read_text()) if path.exists() else {"exit": rc}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return code


if __name__ == "__main__":
    sys.exit(main())
