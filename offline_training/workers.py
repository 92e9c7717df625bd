"""How data-loader worker processes are started.

``torch.utils.data.DataLoader`` forks its workers by default. Forking a process that already
runs other threads (DDS threads of an rclpy context, a tracing or logging thread, ...) can leave
the child waiting forever on a lock one of those threads held at the moment of the fork. The
trainers therefore start workers from a ``forkserver`` (a clean single-threaded process) where
the platform has one; datasets and ``worker_init_fn`` must then be picklable (they are).
"""

from __future__ import annotations

import multiprocessing


def worker_context(num_workers: int) -> str | None:
    """The ``multiprocessing_context`` for a DataLoader with ``num_workers`` workers: None (no
    workers, or the platform default) or ``"forkserver"``."""
    if num_workers > 0 and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return None
