"""The stages' jobs on a Dask cluster (``--skyqa-scheduler ADDRESS``).

`Cluster.connect` opens a ``dask.distributed`` client to a running scheduler, makes sure
every worker sees skyqa's cache (a worker writes a file there, this process reads it)
and has drizzlepac imported, and hands `skyqa.pipeline.scheduler.Scheduler` Dask's
`concurrent.futures.Executor` (``Client.get_executor``). The jobs are the same as with
the local process pool: each builds one cache entry under the entry's file lock, so the
cache must be on a filesystem every worker mounts at the same path, with locks that hold
across machines (docs/performance.md says which do).

Dask is an extra: ``pip install "skyqa[dask]"``.
"""

from __future__ import annotations

import os
import socket
import uuid
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from skyqa.errors import ClusterError
from skyqa.pipeline.scheduler import BorrowedExecutor, import_drizzlepac

CONNECT_SECONDS = 20
"""How long to wait for the scheduler to answer."""
PROBE_PREFIX = ".skyqa-cluster-probe-"


def _write_probe(folder: str, token: str) -> str:
    """On a worker: write a probe file into the cache folder; return where it went."""
    path = Path(folder) / f"{PROBE_PREFIX}{token}-{socket.gethostname()}-{os.getpid()}"
    path.write_text(token)
    return str(path)


class Cluster:
    """A connection to a Dask scheduler whose workers build skyqa's jobs.

    Use `connect`; `executor` is an `skyqa.pipeline.scheduler.ExecutorFactory`;
    `close` ends the connection (the cluster itself is the user's and goes on).
    """

    def __init__(self, client: Any, address: str) -> None:
        self.client = client
        self.address = address

    @classmethod
    def connect(cls, address: str, cache_root: Path, timeout: float = CONNECT_SECONDS) -> Cluster:
        """Connect to the scheduler at ``address`` (waiting ``timeout`` seconds at most)
        and check that its workers can use ``cache_root``.

        Raises
        ------
        ClusterError
            Dask is not installed, the scheduler does not answer, it has no workers, or
            a worker cannot see the cache.
        """
        try:
            from distributed import Client
        except ImportError as error:
            raise ClusterError(
                f"--skyqa-scheduler {address} needs Dask, which is not installed here: "
                'pip install "skyqa[dask]" (or run without --skyqa-scheduler: the local '
                "process pool)."
            ) from error
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ClusterError(
                f"The Dask scheduler at {address} did not answer within {timeout:g} s "
                f"({type(error).__name__}): is it running, and is the address (with its "
                "port, tcp://host:8786) reachable from this machine?"
            ) from error
        cluster = cls(client, address)
        try:
            cluster.check_cache(cache_root)

            client.run(import_drizzlepac)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def workers(self) -> list[str]:
        """The addresses of the scheduler's workers now."""
        return sorted(self.client.scheduler_info(n_workers=-1)["workers"])

    def check_cache(self, cache_root: Path) -> None:
        """Each worker writes a file into ``cache_root``; this process must read it.

        Raises
        ------
        ClusterError
            The scheduler has no workers, a worker could not write there, or this process
            does not find what it wrote (a different filesystem at that path).
        """
        workers = self.workers()
        if not workers:
            raise ClusterError(
                f"The Dask scheduler at {self.address} has no workers: start some "
                "(dask worker ADDRESS, or a dask-jobqueue cluster's scale()) and run again."
            )
        cache_root.mkdir(parents=True, exist_ok=True)
        token = uuid.uuid4().hex
        try:
            written = self.client.run(_write_probe, str(cache_root), token, workers=workers)
        except OSError as error:
            raise ClusterError(
                f"A Dask worker of {self.address} cannot write into the skyqa cache "
                f"{cache_root} ({error}): the cache must be on a filesystem every worker "
                "mounts, writable, at the same path (--skyqa-cache-dir)."
            ) from error
        try:
            for worker, path in sorted(written.items()):
                probe = Path(path)
                seen = probe.is_file() and probe.read_text() == token
                if not seen:
                    raise ClusterError(
                        f"The Dask worker {worker} cannot share the skyqa cache {cache_root} "
                        f"with this machine: it wrote {probe.name} there, and this process "
                        "does not find it. Put the cache on a filesystem every worker mounts "
                        "at the same path (--skyqa-cache-dir; docs/performance.md)."
                    )
        finally:
            for path in written.values():
                Path(path).unlink(missing_ok=True)

    def executor(self, workers: int, drizzlepac: bool) -> Executor:
        """The executor of one batch (an `ExecutorFactory`): Dask decides where each job
        runs; its workers imported drizzlepac when skyqa connected. Shutting it down
        leaves the client open."""

        return BorrowedExecutor(self.client.get_executor(pure=False))

    def close(self) -> None:
        """Close the connection (the cluster goes on)."""
        self.client.close()
