"""Interrupted and concurrent runs, with real processes."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from tests.processes import PROC, children, still_running_after

pytestmark = pytest.mark.integration

RUN = """
import json, sys
from skyqa.field import resolve_field
from skyqa.pipeline import Pipeline
pipeline = Pipeline(resolve_field("mini-sim"), sys.argv[1], progress=lambda message: None)
pipeline.mosaics()
stages = ["exposures", "catalog", "alignment", "mosaic-localmin", "mosaic-match",
          "mosaic-globalmin_match", "mosaic-globalmin",
          "overlaps", "residuals", "placement", "columns", "sources",
          "skies", "stars", "product-localmin", "product-match",
          "product-globalmin_match", "product-globalmin"]  # built with the mosaics
print(json.dumps({stage: pipeline.stage_entry(stage).reused for stage in stages}))
"""


def _start(cache_dir):
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(cache_dir)], stdout=subprocess.PIPE, text=True
    )


def test_a_run_killed_mid_drizzle_leaves_nothing_a_later_run_trusts(tmp_path):
    cache = tmp_path / "cache"
    process = _start(cache)
    field_dir = cache / "mini-sim"
    deadline = time.monotonic() + 300
    while not list(field_dir.glob(".building-mosaic-*")):
        assert process.poll() is None, "the run ended before its first mosaic"
        assert time.monotonic() < deadline, "no mosaic started within 5 minutes"
        time.sleep(0.02)
    workers = children(process.pid)
    assert workers or not PROC.is_dir(), "no worker process found building the mosaics"
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    # Its workers end with it (mid-drizzle, within a few seconds): none builds on after
    # it, nor waits forever for its next task.
    assert still_running_after(workers, 60) == [], "the killed run's workers live on"
    killed = {path.name for path in field_dir.iterdir()}
    half_built = [name for name in killed if name.startswith(".building-mosaic-")]
    assert half_built, "the kill did not land during a drizzle"
    finished = [name for name in killed if name.startswith("mosaic-")]
    assert all((field_dir / name / "MANIFEST.json").is_file() for name in finished)

    again = _start(cache)
    output, _ = again.communicate(timeout=600)
    assert again.returncode == 0
    reused = json.loads(output.splitlines()[-1])
    assert reused["alignment"] is True  # finished before the kill: trusted
    rebuilt = [stage for stage, was_reused in reused.items() if not was_reused]
    assert rebuilt, "the interrupted mosaic must be built again"
    assert not list(field_dir.glob(".building-*")), "the killed run's scratch was not cleared"


def test_two_concurrent_runs_build_each_result_once(tmp_path):
    cache = tmp_path / "cache"
    first, second = _start(cache), _start(cache)
    outputs = [process.communicate(timeout=600)[0] for process in (first, second)]
    assert first.returncode == second.returncode == 0
    reused = [json.loads(output.splitlines()[-1]) for output in outputs]
    for stage in reused[0]:
        assert sorted([reused[0][stage], reused[1][stage]]) == [False, True], stage
    entries = [p.name for p in (cache / "mini-sim").iterdir() if not p.name.startswith(".")]
    assert len(entries) == len(reused[0])  # one entry per stage, none duplicated
    assert all((cache / "mini-sim" / name / "MANIFEST.json").is_file() for name in entries)
    assert os.listdir(cache / "mini-sim")  # and nothing half-written is left
    assert not list((cache / "mini-sim").glob(".building-*"))


def test_workers_give_the_same_results_as_one_process(mini_pipeline, tmp_path):
    """The mosaics and overlaps built in worker processes (the session default on a
    machine with more than one CPU) equal those built in this process."""
    import shutil

    import pandas as pd

    from skyqa.drizzle import mdrizsky_by_method
    from skyqa.pipeline import Pipeline

    shared = mini_pipeline.cache.root / "mini-sim"
    for stage in ("exposures", "catalog", "alignment"):
        entry = mini_pipeline.stage_entry(stage).directory
        shutil.copytree(entry, tmp_path / "mini-sim" / entry.name)
    assert shared != tmp_path / "mini-sim"
    serial = Pipeline(mini_pipeline.field, tmp_path, progress=lambda _: None, workers=1)
    pd.testing.assert_frame_equal(
        mdrizsky_by_method(serial.mosaics()), mdrizsky_by_method(mini_pipeline.mosaics())
    )
    pd.testing.assert_frame_equal(serial.overlaps(), mini_pipeline.overlaps())
    assert serial.stage_entry("alignment").reused  # copied, not rebuilt
    assert not serial.stage_entry("mosaic-match").reused  # built here, in one process
