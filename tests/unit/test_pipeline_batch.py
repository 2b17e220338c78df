"""The pipeline's batch of independent stages, with stand-in stages (no drizzlepac)."""

import os
from pathlib import Path

from skyqa.faults import Fault
from skyqa.field import resolve_field
from skyqa.pipeline import LaterJob, Pipeline, StageJob


def _write(name: str, workdir: Path) -> dict:
    (workdir / name).write_text(name)
    return {"file": name}


def _die(workdir: Path) -> dict:
    os._exit(1)  # a worker killed mid-build (out of memory, say)


def _load(entry):
    return (entry.directory / entry.record["file"]).read_text()


def _job(stage: str, build) -> StageJob:
    return StageJob(stage, f"building {stage}", {"stage": stage}, build, _load)


def _pipeline(tmp_path, messages) -> Pipeline:
    return Pipeline(resolve_field("mini-sim"), tmp_path, progress=messages.append, workers=2)


def test_later_jobs_start_when_what_they_need_is_built(tmp_path):
    from functools import partial

    messages = []
    pipeline = _pipeline(tmp_path, messages)
    jobs = [_job(name, partial(_write, name)) for name in ("a", "b", "c")]
    later = LaterJob("d", ("a", "b"), lambda: _job("d", partial(_write, "d")))
    pipeline._build_concurrently(jobs, [later])
    assert [pipeline._results[stage] for stage in "abcd"] == ["a", "b", "c", "d"]
    assert all(not pipeline.stage_entry(stage).reused for stage in "abcd")

    again = _pipeline(tmp_path, [])
    again._build_concurrently(jobs, [later])  # all cached: nothing is built, d never made
    assert all(again.stage_entry(stage).reused for stage in "abc")


def test_a_worker_that_dies_does_not_sink_the_batch(tmp_path):
    """A dead worker breaks the pool; the batch must stop submitting and leave what is
    left to each stage's own method (which runs and reports it in this process). When the
    pool breaks is a race, so the scenario runs a few times."""
    from functools import partial

    for attempt in range(5):
        messages = []
        pipeline = _pipeline(tmp_path / str(attempt), messages)
        jobs = [_job("dies", _die), *(_job(name, partial(_write, name)) for name in "ab")]
        later = LaterJob("c", ("a",), lambda: _job("c", partial(_write, "c")))
        pipeline._build_concurrently(jobs, [later])  # must not raise
        assert "dies" not in pipeline._results  # left for its own method to build and report
        said = " ".join(messages)
        assert "failed in a worker" in said or "pool broke" in said, messages


def test_a_kept_pool_serves_the_next_batch_and_close_stops_it(tmp_path):
    """The alignment's pool stays open for the batch after it (its workers have imported
    drizzlepac); the batch shuts it down, and a later batch starts a new one."""
    from functools import partial

    pipeline = _pipeline(tmp_path, [])
    pipeline._build_concurrently([_job("a", partial(_write, "a"))], keep_pool=True)
    kept = pipeline._pool
    assert kept is not None
    pipeline._build_concurrently([_job(name, partial(_write, name)) for name in "bc"])
    assert pipeline._pool is None  # shut down at the end of the batch ...
    assert [pipeline._results[stage] for stage in "abc"] == ["a", "b", "c"]
    with _pipeline(tmp_path / "again", []) as again:  # ... and by close()
        again._build_concurrently([_job("d", partial(_write, "d"))], keep_pool=True)
        assert again._pool is not None
    assert again._pool is None


def test_the_worker_start_survives_a_strict_warnings_filter():
    """drizzlepac's dependencies warn when imported; under ``-W error`` (skyqa's own test
    settings) a failing pool initializer would break the whole pool."""
    import subprocess
    import sys

    code = (
        "import sys; from skyqa.pipeline import _import_drizzlepac; _import_drizzlepac(); "
        "print('drizzlepac.tweakreg' in sys.modules)"
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


def _describe(workdir: Path, record: dict) -> dict:
    return {"content": (workdir / record["file"]).read_text()}


def test_a_stage_is_described_after_an_injected_fault_damaged_it(tmp_path):
    """What a stage records of its outputs for later runs (the mosaics' coverage) is
    measured after the fault's damage, else a later run would judge undamaged numbers."""
    from functools import partial

    job = StageJob("a", "building a", {"stage": "a"}, partial(_write, "a"), _load, _describe)
    clean = _pipeline(tmp_path / "clean", [])
    assert clean._stage(job).record["content"] == "a"
    faulted = Pipeline(
        resolve_field("mini-sim"), tmp_path / "faulted", fault=_Overwrite(), progress=print
    )
    assert faulted._stage(job).record["content"] == "damaged"
