"""The scheduler's batch of independent jobs, with stand-in jobs (no drizzlepac), and a
stage of one's own run by the pipeline with a fault."""

import os
from functools import partial
from pathlib import Path

from skyqa.cache import Cache
from skyqa.faults import Fault
from skyqa.field import resolve_field
from skyqa.pipeline import Pipeline
from skyqa.pipeline.scheduler import Job, LaterJob, Scheduler
from skyqa.pipeline.stages import Stage


def _write(name: str, workdir: Path) -> dict:
    (workdir / name).write_text(name)
    return {"file": name}


def _die(workdir: Path) -> dict:
    os._exit(1)  # a worker killed mid-build (out of memory, say)


def _job(stage: str, build) -> Job:
    return Job(stage, f"building {stage}", {"stage": stage}, build)


class _Owner:
    """What owns a scheduler's results (the pipeline does): stage -> file content."""

    def __init__(self, tmp_path, messages, workers=2):
        self.scheduler = Scheduler(Cache(tmp_path), "f", messages.append, workers)
        self.results: dict[str, str] = {}
        self.reused: dict[str, bool] = {}
        self.how: dict[str, str] = {}

    def done(self, job, entry, elapsed, how):
        self.results[job.stage] = (entry.directory / entry.record["file"]).read_text()
        self.reused[job.stage] = entry.reused
        self.how[job.stage] = how

    def build_many(self, jobs, later=(), keep=False):
        self.scheduler.build_many(jobs, later, lambda: set(self.results), self.done, keep)


def test_later_jobs_start_when_what_they_need_is_built(tmp_path):
    owner = _Owner(tmp_path, [])
    jobs = [_job(name, partial(_write, name)) for name in ("a", "b", "c")]
    later = LaterJob("d", ("a", "b"), lambda: _job("d", partial(_write, "d")))
    owner.build_many(jobs, [later])
    assert [owner.results[stage] for stage in "abcd"] == ["a", "b", "c", "d"]
    assert not any(owner.reused.values())

    again = _Owner(tmp_path, [])
    again.build_many(jobs, [later])  # all cached: nothing is built, d never made
    assert all(again.reused[stage] for stage in "abc")
    assert "d" not in again.results


def test_a_worker_that_dies_does_not_sink_the_batch(tmp_path):
    """A dead worker breaks the pool; the batch must stop submitting and leave what is
    left to its owner (which builds and reports it in this process). When the pool
    breaks is a race, so the scenario runs a few times."""
    for attempt in range(5):
        messages = []
        owner = _Owner(tmp_path / str(attempt), messages)
        jobs = [_job("dies", _die), *(_job(name, partial(_write, name)) for name in "ab")]
        later = LaterJob("c", ("a",), lambda: _job("c", partial(_write, "c")))
        owner.build_many(jobs, [later])  # must not raise
        assert "dies" not in owner.results  # left for its owner to build and report
        said = " ".join(messages)
        assert "failed in a worker" in said or "pool broke" in said, messages


def test_a_kept_executor_serves_the_next_batch_and_close_stops_it(tmp_path):
    """The alignment's pool stays open for the batch after it (its workers have imported
    drizzlepac); the batch shuts it down, and a later batch starts a new one."""
    owner = _Owner(tmp_path, [])
    owner.build_many([_job("a", partial(_write, "a"))], keep=True)
    assert owner.scheduler.executor is not None
    owner.build_many([_job(name, partial(_write, name)) for name in "bc"])
    assert owner.scheduler.executor is None  # shut down at the end of the batch ...
    assert [owner.results[stage] for stage in "abc"] == ["a", "b", "c"]
    again = _Owner(tmp_path / "again", [])
    again.build_many([_job("d", partial(_write, "d"))], keep=True)
    assert again.scheduler.executor is not None
    again.scheduler.close()  # ... and by close()
    assert again.scheduler.executor is None


def test_any_executor_can_be_plugged_in(tmp_path):
    """The scheduler uses only the `concurrent.futures.Executor` interface."""
    from concurrent.futures import ThreadPoolExecutor

    made = []

    def threads(workers, drizzlepac):
        made.append((workers, drizzlepac))
        return ThreadPoolExecutor(workers)

    owner = _Owner(tmp_path, [])
    owner.scheduler.executor_factory = threads
    owner.build_many([_job(name, partial(_write, name)) for name in "ab"])
    assert owner.results == {"a": "a", "b": "b"}
    assert made == [(2, False)]


def test_the_worker_start_survives_a_strict_warnings_filter():
    """drizzlepac's dependencies warn when imported; under ``-W error`` (skyqa's own test
    settings) a failing pool initializer would break the whole pool."""
    import subprocess
    import sys

    code = (
        "import sys; from skyqa.pipeline.scheduler import import_drizzlepac; "
        "import_drizzlepac(); print('drizzlepac.tweakreg' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "True"


class _Overwrite(Fault):
    """A stand-in fault that damages stage ``a``'s output after its build."""

    name = "overwrite"
    stage = "a"
    description = "stage a's file overwritten"

    def outputs(self, field, workdir, record):
        (workdir / record["file"]).write_text("damaged")


def _build_a(field, fault, workdir: Path) -> dict:
    return _write("a", workdir)


def _describe(workdir: Path, record: dict) -> dict:
    return {"content": (workdir / record["file"]).read_text()}


def test_a_stage_is_described_after_an_injected_fault_damaged_it(tmp_path):
    """What a stage records of its outputs for later runs (the mosaics' coverage) is
    measured after the fault's damage, else a later run would judge undamaged numbers."""
    stage = Stage("a", "building a", _build_a, lambda entry: entry, describe=_describe)
    clean = Pipeline(resolve_field("mini-sim"), tmp_path / "clean", progress=print, workers=1)
    assert clean.result_of(stage).record["content"] == "a"
    faulted = Pipeline(
        resolve_field("mini-sim"), tmp_path / "faulted", fault=_Overwrite(), progress=print
    )
    assert faulted.result_of(stage).record["content"] == "damaged"


def _allocate(megabytes: int, name: str, workdir: Path) -> dict:
    import numpy as np

    block = np.ones(megabytes * 2**20, dtype=np.uint8)  # touched: resident
    (workdir / name).write_text(str(int(block.sum() > 0)))
    return {"file": name}


def test_each_worker_job_reports_its_own_peak_memory(tmp_path):
    """The peak is the job's, not the worker's lifetime: a 300 MB job then a small one in
    the same single worker report about 300 MB and well under it."""
    import re

    from skyqa.pipeline.scheduler import SharedPool

    messages: list[str] = []
    owner = _Owner(tmp_path, messages, workers=1)
    pool = SharedPool(1)
    owner.scheduler.executor_factory = pool
    try:
        owner.build_many([_job("big", partial(_allocate, 300, "big"))])
        owner.build_many([_job("small", partial(_allocate, 1, "small"))])
    finally:
        pool.close()
    peaks = {}
    for stage, how in owner.how.items():
        found = re.search(r"done in .* \(worker, peak ([\d.]+) GB\)", how)
        assert found, how
        peaks[stage] = float(found.group(1)) * 1024
    assert peaks["big"] >= 300
    assert peaks["small"] < peaks["big"] - 250


def _build_seeing_the_environment(field, fault, workdir: Path) -> dict:
    return {"control": os.environ.get("ASTROMETRY_STEP_CONTROL")}


def test_a_pipeline_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    """Only the builds run with ASTROMETRY_STEP_CONTROL=OFF (stwcs would query the MAST
    astrometry database otherwise); making a pipeline, and running it, change nothing of
    the caller's environment. With the user's consent the build sees the caller's value."""
    monkeypatch.delenv("ASTROMETRY_STEP_CONTROL", raising=False)
    stage = Stage("env", "seeing the environment", _build_seeing_the_environment, lambda e: e)
    pipeline = Pipeline(resolve_field("mini-sim"), tmp_path / "a", progress=print, workers=1)
    assert "ASTROMETRY_STEP_CONTROL" not in os.environ
    assert pipeline.result_of(stage).record["control"] == "OFF"
    assert "ASTROMETRY_STEP_CONTROL" not in os.environ
    monkeypatch.setenv("ASTROMETRY_STEP_CONTROL", "ON")
    allowed = Pipeline(
        resolve_field("mini-sim"), tmp_path / "b", progress=print, workers=1,
        allow_astrometry_db=True,
    )  # fmt: skip
    assert allowed.result_of(stage).record["control"] == "ON"
    assert os.environ["ASTROMETRY_STEP_CONTROL"] == "ON"
