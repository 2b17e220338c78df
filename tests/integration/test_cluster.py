"""The stages on a real Dask cluster (``dask.distributed.LocalCluster``, worker processes)."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from skyqa.cluster import Cluster  # noqa: E402
from skyqa.errors import ClusterError  # noqa: E402
from skyqa.field import resolve_field  # noqa: E402
from skyqa.pipeline import Pipeline  # noqa: E402

pytestmark = pytest.mark.integration

SEEDED_STAGES = ("exposures-", "catalog-")


@pytest.fixture
def local_cluster():
    """Two worker processes of one thread each, on this machine."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def _seeded_cache(mini_pipeline, root: Path) -> Path:
    """A cache holding only mini-sim's exposures and catalog (from the shared cache)."""
    source = mini_pipeline.cache.root / "mini-sim"
    target = root / "mini-sim"
    target.mkdir(parents=True)
    for entry in source.iterdir():
        if entry.is_dir() and entry.name.startswith(SEEDED_STAGES):
            shutil.copytree(entry, target / entry.name)
    return root


def _on_cluster(field_cache: Path, cluster: Cluster, lines: list[str]) -> Pipeline:
    return Pipeline(
        resolve_field("mini-sim"), field_cache, progress=lines.append, executor=cluster.executor
    )


def test_a_dask_cluster_builds_what_the_local_pool_builds(mini_pipeline, local_cluster, tmp_path):
    cache = _seeded_cache(mini_pipeline, tmp_path / "cache")
    cluster = Cluster.connect(local_cluster.scheduler_address, cache)
    lines: list[str] = []
    try:
        pipeline = _on_cluster(cache, cluster, lines)
        mosaics = pipeline.mosaics()
        overlaps = pipeline.overlaps()
    finally:
        cluster.close()
    built_on_workers = [line for line in lines if "(worker" in line]
    assert any("drizzling the match mosaic" in line for line in built_on_workers), lines

    # The same entries as the local pool's (their keys differ: a rebuilt alignment's files
    # carry new dates), and the same numbers.
    def stages(root: Path) -> set[str]:
        return {path.name.rsplit("-", 1)[0] for path in (root / "mini-sim").glob("mosaic-*")}

    assert stages(cache) == stages(mini_pipeline.cache.root)
    for method, mosaic in mosaics.items():
        local = mini_pipeline.mosaic(method).mdrizsky
        assert mosaic.mdrizsky["rootname"].tolist() == local["rootname"].tolist()
        assert mosaic.mdrizsky["mdrizsky_e_s"].to_numpy() == pytest.approx(
            local["mdrizsky_e_s"].to_numpy(), abs=1e-9
        )
    assert overlaps.equals(mini_pipeline.overlaps())
    assert not list((cache / "mini-sim").glob(".building-*"))


def test_a_worker_killed_mid_job_is_retried_and_the_cache_stays_consistent(
    mini_pipeline, local_cluster, tmp_path
):
    cache = _seeded_cache(mini_pipeline, tmp_path / "cache")
    cluster = Cluster.connect(local_cluster.scheduler_address, cache)
    killed: list[int] = []

    def kill_the_first_mosaic_builder() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for scratch in (cache / "mini-sim").glob(".building-mosaic-*"):
                pid = int(scratch.name.rsplit("-", 1)[-1])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_the_first_mosaic_builder, daemon=True)
    lines: list[str] = []
    try:
        pipeline = _on_cluster(cache, cluster, lines)
        pipeline.alignment()
        watcher.start()
        mosaics = pipeline.mosaics()
    finally:
        watcher.join(timeout=5)
        cluster.close()
    assert killed, "no mosaic build was seen to kill"
    assert set(mosaics) == {"localmin", "match", "globalmin+match", "globalmin"}
    for method, mosaic in mosaics.items():
        local = mini_pipeline.mosaic(method).mdrizsky
        assert mosaic.mdrizsky["mdrizsky_e_s"].to_numpy() == pytest.approx(
            local["mdrizsky_e_s"].to_numpy(), abs=1e-9
        )
    # Every entry complete and unchanged: found again, not rebuilt, no scratch left.
    reread: list[str] = []
    Pipeline(resolve_field("mini-sim"), cache, progress=reread.append, workers=1).mosaics()
    mosaic_lines = [line for line in reread if "mosaic:" in line]
    assert len(mosaic_lines) == 4
    assert all("reused from cache" in line for line in mosaic_lines)
    assert not list((cache / "mini-sim").glob(".building-*"))


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker with another filesystem: chroot, root only")
def test_workers_that_do_not_see_the_cache_are_refused_in_one_sentence(local_cluster, tmp_path):
    """A worker whose filesystem is not this one's (chroot into an empty folder that has a
    folder of the cache's path, as a node with its own local disk would)."""
    import importlib

    cache = tmp_path / "cache"
    elsewhere = tmp_path / "other-node"
    (elsewhere / cache.relative_to("/")).mkdir(parents=True)
    with distributed.Client(local_cluster.scheduler_address, set_as_default=False) as client:
        client.run(importlib.import_module, "skyqa.cluster")
        client.run(os.chroot, str(elsewhere))
    with pytest.raises(ClusterError) as raised:
        Cluster.connect(local_cluster.scheduler_address, cache)
    sentence = str(raised.value)
    assert "cannot share the skyqa cache" in sentence
    assert str(cache) in sentence
    assert "--skyqa-cache-dir" in sentence
    assert not list(cache.glob(".skyqa-cluster-probe-*"))


def test_a_scheduler_that_does_not_answer_is_one_sentence(tmp_path):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(ClusterError, match=r"did not answer within 2 s .*reachable"):
        Cluster.connect(f"tcp://127.0.0.1:{port}", tmp_path, timeout=2)


def test_pytest_field_with_a_scheduler_runs_every_check(
    pytester, mini_pipeline, shared_cache_dir, local_cluster
):
    """``--skyqa-scheduler``: connected and checked once, every check runs, the verdict is
    the one the local pool gives (the shared cache holds mini-sim's entries: nothing to
    rebuild, so this is the option's wiring and the cache probe)."""
    result = pytester.runpytest(
        "--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir),
        "--skyqa-scheduler", local_cluster.scheduler_address, "-p", "no:logging",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["skyqa verdict for mini-sim: PASSED*"])
    assert not list(shared_cache_dir.glob(".skyqa-cluster-probe-*"))


def test_pytest_field_with_an_unreachable_scheduler_stops_in_one_sentence(pytester, tmp_path):
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    pytester.makeini(f"[pytest]\nskyqa_scheduler = tcp://127.0.0.1:{port}\n")
    result = pytester.runpytest(
        "--field", "mini-sim", "--skyqa-cache-dir", str(tmp_path / "cache"), "-p", "no:logging"
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        ["*skyqa cannot use the Dask cluster: The Dask scheduler at tcp://127.0.0.1:* did not "
         "answer within 20 s*"]
    )  # fmt: skip
    summary = pytester.path / "skyqa-report" / "mini-sim" / "summary.json"
    assert '"verdict": "error"' in summary.read_text()
