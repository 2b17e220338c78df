"""Building cache entries: one at a time in this process, or many at once through a
`concurrent.futures.Executor`.

The scheduler knows no stage: it is given `Job` objects (a stage name, a cache key, a
picklable ``build(workdir)``) and hands each built entry to a callback. Jobs that can
start only once others are built come as `LaterJob` objects. The executor is made by an
`ExecutorFactory`; the default, `process_pool`, is a pool of worker processes that never
outlive this one (`skyqa.workers`); any other `Executor` (a cluster's) can be plugged in.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures import wait as wait_for  # `wait` is a parameter of shutdown
from dataclasses import dataclass
from pathlib import Path

from skyqa.cache import MANIFEST, Cache, CacheEntry
from skyqa.sandbox import quiet_import
from skyqa.workers import stop_now, worker_pool


@dataclass(frozen=True)
class Job:
    """One cache entry to build: ``build(workdir)`` fills a new directory and returns its
    record. ``cost`` is its expected build time when the cache has never built it;
    ``drizzlepac`` whether it runs drizzlepac (a worker imports it first)."""

    stage: str
    label: str
    key: dict
    build: Callable[[Path], dict]
    cost: float = 4.0
    drizzlepac: bool = False


@dataclass(frozen=True)
class LaterJob:
    """A job that can start only when the stages in ``needs`` are built: ``make()``
    returns it then (its key names their content)."""

    stage: str
    needs: tuple[str, ...]
    make: Callable[[], Job]


ExecutorFactory = Callable[[int, bool], Executor]
"""``factory(workers, drizzlepac)``: an executor running ``workers`` tasks at once, whose
workers import drizzlepac at their start if ``drizzlepac``."""

Done = Callable[[Job, CacheEntry, float, str], None]
"""Called with each built (or found) entry: the job, its entry, seconds, and how."""


def import_drizzlepac() -> None:
    """Worker start: import drizzlepac (about 1.6 s), on every worker at once.

    Never raises: an initializer that fails breaks the whole pool. A real import error
    is raised again by the stage that imports drizzlepac, inside its log capture
    (`skyqa.sandbox.console_to`).
    """

    try:
        for name in ("astrodrizzle", "tweakback", "tweakreg"):
            quiet_import(f"drizzlepac.{name}")
    except Exception:
        pass


def process_pool(workers: int, drizzlepac: bool) -> Executor:
    """The default executor: ``workers`` processes that exit with this one."""
    return worker_pool(workers, import_drizzlepac if drizzlepac else None)


class SharedPool:
    """One process pool for several pipelines (many fields in one session): an
    `ExecutorFactory` whose executors all submit to the same ``workers`` processes, so
    that the fields' jobs share the machine instead of each field starting its own pool.
    Shutting down one batch's executor leaves the pool running; `close` ends it."""

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._pool: Executor | None = None
        self._lock = threading.Lock()

    def __call__(self, workers: int, drizzlepac: bool) -> Executor:
        with self._lock:
            if self._pool is None:
                self._pool = process_pool(self.workers, True)
            return BorrowedExecutor(self._pool)

    def close(self) -> None:
        """Stop the pool's processes (waiting for what they are building)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None


class BorrowedExecutor(Executor):
    """A batch's view of an executor it does not own (a `SharedPool`'s processes, a Dask
    client's): it submits there, and its shutdown waits for, or cancels, only its own
    jobs, leaving the executor running for the next batch."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._futures: list[Future] = []

    def submit(self, fn, /, *args, **kwargs):
        future = self._pool.submit(fn, *args, **kwargs)
        self._futures.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            for future in self._futures:
                future.cancel()
        if wait:
            wait_for(self._futures)


def _reset_peak_memory() -> None:
    """Start a new peak of this process's resident memory (Linux: ``clear_refs`` 5)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_memory_mb() -> float | None:
    """This process's peak resident memory (MB) since the last reset, where Linux says."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def build_entry(root: Path, field: str, job: Job) -> tuple[bool, float, float | None]:
    """Build one cache entry (or find it built by someone else): what a worker runs.
    Returns whether it was found built, the seconds, and the worker process's peak
    resident memory (MB) during the job (None where the platform does not say; a worker
    running two jobs at once in threads reports their joint peak)."""
    _reset_peak_memory()
    started = time.perf_counter()
    entry = Cache(root).get_or_build(field, job.stage, job.key, job.build)
    return entry.reused, time.perf_counter() - started, peak_memory_mb()


class Scheduler:
    """Builds the cache entries of one field's jobs.

    Parameters
    ----------
    cache : Cache
        Where entries are built (each under its own lock).
    field : str
        The field's name (its folder in the cache).
    progress : callable
        Receives one line per job started and finished.
    workers : int
        Jobs built at once by the local pool; 1 builds everything in this process.
    executor : ExecutorFactory
        Makes the executor of `build_many` (default `process_pool`; another, such as
        `skyqa.cluster.Cluster.executor`, decides itself how many jobs run at once).
    """

    def __init__(
        self,
        cache: Cache,
        field: str,
        progress: Callable[[str], None],
        workers: int = 1,
        executor: ExecutorFactory = process_pool,
    ) -> None:
        self.cache = cache
        self.field = field
        self.progress = progress
        self.workers = max(1, workers)
        self.executor_factory = executor
        self.executor: Executor | None = None

    def build(self, job: Job) -> tuple[CacheEntry, float]:
        """``job``'s entry, built in this process if the cache does not have it, and the
        seconds it took."""
        started = time.perf_counter()
        self.progress(f"{self.field}: {job.label} ...")
        entry = self.cache.get_or_build(self.field, job.stage, job.key, job.build)
        elapsed = time.perf_counter() - started
        how = "reused from cache" if entry.reused else f"done in {elapsed:.1f} s"
        self.progress(f"{self.field}: {job.label}: {how} ({entry.directory})")
        return entry, elapsed

    def find(self, job: Job) -> CacheEntry | None:
        """``job``'s entry if the cache holds it, complete and unchanged."""
        return self.cache.find(self.field, job.stage, job.key)

    def build_many(
        self,
        jobs: Sequence[Job],
        later: Sequence[LaterJob],
        built: Callable[[], set[str]],
        done: Done,
        keep: bool = False,
    ) -> None:
        """Build ``jobs`` ``workers`` at a time, longest first, and each of ``later`` as
        soon as the stages it needs are in ``built()``; ``done`` receives every entry.

        Cached jobs are handed to ``done`` at once. A job whose worker failed is not
        handed on: its owner builds it again in this process, where its error is
        reported as it would be without workers. With one worker of the local pool
        nothing is built here (the owner builds each job when it is asked for); any
        other executor (a Dask cluster's) gets every job, whatever ``workers`` says.
        The executor is shut down at the end unless ``keep`` (more jobs follow).
        """
        pending = [job for job in jobs if not self._done_if_cached(job, done)]
        if not pending or (self.workers < 2 and self.executor_factory is process_pool):
            if not keep:
                self.close()
            return
        waiting = list(later)

        def ready() -> list[Job]:
            return self._ready(waiting, built(), done)

        pending = self.longest_first(pending + ready())
        if len(pending) > 1:
            self.progress(
                f"{self.field}: building {len(pending)} independent stages, "
                f"{min(self.workers, len(pending))} at a time"
            )
        else:
            self.progress(f"{self.field}: {pending[0].label} ...")
        executor = self._executor(any(job.drizzlepac for job in pending) or keep)

        def submit(jobs: Sequence[Job]) -> dict[Future, Job]:
            return {
                executor.submit(build_entry, self.cache.root, self.field, job): job for job in jobs
            }

        try:
            running = submit(pending)
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    self._collect(running.pop(future), future, done)
                running.update(submit(self.longest_first(ready())))
        except BrokenExecutor:  # a worker died: what is left, each owner builds
            self.progress(f"{self.field}: the worker pool broke; going on here")
            keep = False
        except BaseException:  # Ctrl-C (or a bug): no worker goes on building unasked
            self._stop_now()
            raise
        if not keep:
            self.close()

    def _ready(self, waiting: list[LaterJob], built: set[str], done: Done) -> list[Job]:
        """Take from ``waiting`` the jobs whose inputs are ``built``: those not cached, to
        be built (one that cannot be made is left to its owner, which reports it)."""
        jobs = []
        for later_job in [job for job in waiting if set(job.needs) <= built]:
            waiting.remove(later_job)
            try:
                job = later_job.make()
            except Exception as error:
                self.progress(f"{self.field}: {later_job.stage}: not started: {error}")
                continue
            if not self._done_if_cached(job, done):
                jobs.append(job)
        return jobs

    def _collect(self, job: Job, future: Future, done: Done) -> None:
        try:
            reused, elapsed, peak = future.result()
        except Exception as error:  # reported again when its owner builds it
            self.progress(f"{self.field}: {job.label}: failed in a worker: {error}")
            return
        entry = self.find(job)
        if entry is None:  # changed since the worker wrote it: its owner rebuilds it
            return
        memory = f", peak {peak / 1024:.2f} GB" if peak is not None else ""
        how = "reused from cache" if reused else f"done in {elapsed:.1f} s (worker{memory})"
        done(job, CacheEntry(entry.directory, entry.manifest, reused=reused), elapsed, how)

    def _done_if_cached(self, job: Job, done: Done) -> bool:
        entry = self.find(job)
        if entry is not None:
            done(job, entry, 0.0, "reused from cache")
        return entry is not None

    def _executor(self, drizzlepac: bool) -> Executor:
        if self.executor is None:
            self.executor = self.executor_factory(self.workers, drizzlepac)
        return self.executor

    def _stop_now(self) -> None:
        if self.executor is None:
            return
        if isinstance(self.executor, ProcessPoolExecutor):
            stop_now(self.executor)
        else:
            self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = None

    def close(self) -> None:
        """Shut the executor down, if one is running; a later `build_many` starts another."""
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None

    def longest_first(self, jobs: Sequence[Job]) -> list[Job]:
        """``jobs`` by expected build time, longest first: a pool that takes them in this
        order finishes soonest. Expected: each stage's last build in this field's cache
        (any key), if every job has one; else each job's ``cost``."""
        field_dir = self.cache.root / self.field
        last = {}
        for job in jobs:
            try:
                manifests = sorted(
                    field_dir.glob(f"{job.stage}-*/{MANIFEST}"),
                    key=lambda path: path.stat().st_mtime,
                )
                last[job.stage] = float(json.loads(manifests[-1].read_text())["build_seconds"])
            except (IndexError, KeyError, ValueError, OSError):
                break
        learned = len(last) == len(jobs)
        return sorted(jobs, key=lambda job: last[job.stage] if learned else job.cost, reverse=True)
