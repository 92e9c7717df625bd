"""One line describing where a benchmark ran (CPU model, cores, torch, CUDA device)."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str = "cpu") -> str:
    """E.g. ``cpu: Intel(R) Xeon(R) ... x2 cores, torch 2.13.0+cpu (2 threads)``."""
    parts = [f"{cpu_model()} x{os.cpu_count()} cores", f"python {platform.python_version()}"]
    try:
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
        if device.startswith("cuda") and torch.cuda.is_available():
            parts.insert(0, f"GPU {torch.cuda.get_device_name(device)}")
    except ImportError:
        pass
    return f"{device}: " + ", ".join(parts)
