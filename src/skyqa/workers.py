"""Worker processes: how many, and pools whose workers never outlive their owner.

A `concurrent.futures.ProcessPoolExecutor` worker waits for its next task on a pipe
whose writing end every forked worker holds too, so it never sees the end of it: when
the process that owns the pool is killed (``kill -9``, the out-of-memory killer, a CI
time limit), its workers live on, each holding its memory (about 270 MB with drizzlepac
imported) and, mid-build, a cache entry's lock. Every worker of `worker_pool` therefore
watches its parent and exits as soon as it is gone; what it was building is left as a
scratch folder, which the next run clears (see `skyqa.cache.Cache.get_or_build`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PARENT_CHECK_SECONDS = 0.5
"""How often a worker looks whether its parent is still there."""


def available_cpus() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)  # no clean-up: the parent that would wait for it is gone


def _start_worker(parent: int, initializer: Callable[[], None] | None) -> None:
    watch = threading.Thread(
        target=_exit_when_orphaned, args=(parent,), name="skyqa-parent-watch", daemon=True
    )
    watch.start()
    if initializer is not None:
        initializer()


def worker_pool(workers: int, initializer: Callable[[], None] | None = None) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, forked where the platform can (no re-imports);
    each runs ``initializer`` first, if given, and exits if this process dies."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer),
    )


def stop_now(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` at once (Ctrl-C): queued tasks are cancelled and running workers
    terminated, instead of finishing builds nobody will wait for. What they were building
    is left as scratch folders, which the next run clears."""
    # The executor lists its processes only in a private attribute; without it the
    # workers still end, when they notice their parent is gone.
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(timeout=5)
