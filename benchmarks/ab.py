"""Two versions of skyqa side by side: cold and warm runs of horsehead-sim, interleaved.

    git worktree add /tmp/before <commit>
    python benchmarks/ab.py --before /tmp/before --after . --rounds 4

Each checkout's source tree (``<checkout>/src``) is put first on ``PYTHONPATH``, so the
installed skyqa is not used and neither checkout is installed. Each generates its own
field once (its cache keys are its own), then the cold runs alternate (before, after,
after, before, ...), each from a cache holding only the exposures and the catalog, so
that drift of the machine during the session falls on both alike; each cold run is
followed by a warm one on the cache it built (nothing to build: the checks, the report
and the interpreter's start). Per run: wall time,
and the CPU seconds (user, system) of pytest's process and of its workers, read with
``getrusage`` inside the measured process. A difference in the workers' system time with
equal user time points at the interpreter and the allocator, not at skyqa's work (see
``docs/benchmarks.md``, "After the restructuring of issue 19").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

FIELD = "horsehead-sim"
KEPT_STAGES = ("exposures-", "catalog-")

RUN = """
import resource, sys, time
import pytest
started = time.perf_counter()
code = pytest.main(sys.argv[1:])
wall = time.perf_counter() - started
own = resource.getrusage(resource.RUSAGE_SELF)
workers = resource.getrusage(resource.RUSAGE_CHILDREN)
print("AB " + __import__("json").dumps({"wall": wall, "exit": int(code),
      "main_user": own.ru_utime, "main_sys": own.ru_stime,
      "workers_user": workers.ru_utime, "workers_sys": workers.ru_stime}), file=sys.stderr)
"""


def _environment(checkout: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(checkout / "src"),
        "PYTEST_ADDOPTS": "-p no:hypothesispytest -p no:cacheprovider",
    }


def prepare(checkout: Path, work: Path) -> None:
    """Generate the field's exposures and catalog with this checkout's code, once."""
    code = (
        "from skyqa.field import resolve_field; from skyqa.pipeline import Pipeline; "
        f"p = Pipeline(resolve_field({FIELD!r}), {str(work / 'generated')!r}, workers=2); "
        "p.exposures(); p.reference_catalog(); p.close()"
    )
    subprocess.run([sys.executable, "-c", code], env=_environment(checkout), check=True)


def cold_run(checkout: Path, work: Path, workers: int) -> dict:
    """One cold run: a cache with only the generated exposures and catalog."""
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(work / "generated", cache)
    for entry in (cache / FIELD).iterdir():
        if entry.is_dir() and not entry.name.startswith(KEPT_STAGES):
            shutil.rmtree(entry)
    os.sync()
    return _run(checkout, work, workers)


def _run(checkout: Path, work: Path, workers: int) -> dict:
    """One session on ``work``'s cache as it is (after `cold_run`: a warm run)."""
    cache = work / "cache"
    command = [
        sys.executable, "-c", RUN, "--field", FIELD, "--skyqa-cache-dir", str(cache),
        "--skyqa-workers", str(workers), "--skyqa-report-dir", str(work / "report"), "-q",
        f"--basetemp={work / 'pytest-tmp'}",
    ]  # fmt: skip
    done = subprocess.run(
        command, env=_environment(checkout), cwd=work, capture_output=True, text=True
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("AB ")]
    if not lines:
        raise SystemExit(f"{checkout}: the run reported nothing:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][3:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, required=True, help="checkout of the new code")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("ab-work"))
    args = parser.parse_args(argv)
    checkouts = {"before": args.before.resolve(), "after": args.after.resolve()}
    args.work = args.work.resolve()  # the runs' working folder is inside it
    for label, checkout in checkouts.items():
        (args.work / label).mkdir(parents=True, exist_ok=True)
        print(f"{label}: generating {FIELD} with {checkout} ...", flush=True)
        prepare(checkout, args.work / label)
    runs: dict[str, list[dict]] = {label: [] for label in checkouts}
    warm: dict[str, list[dict]] = {label: [] for label in checkouts}
    for number in range(args.rounds):
        order = ("before", "after") if number % 2 == 0 else ("after", "before")
        for label in order:
            run = cold_run(checkouts[label], args.work / label, args.workers)
            runs[label].append(run)
            warm[label].append(_run(checkouts[label], args.work / label, args.workers))
            print(
                f"round {number + 1} {label}: {run['wall']:.1f} s wall, workers "
                f"{run['workers_user']:.1f} s user + {run['workers_sys']:.1f} s system "
                f"(exit {run['exit']}); warm {warm[label][-1]['wall']:.2f} s",
                flush=True,
            )
    for label, measured in runs.items():
        walls = [run["wall"] for run in measured]
        warms = [run["wall"] for run in warm[label]]
        system = statistics.median(run["workers_sys"] for run in measured)
        print(
            f"{label}: cold median {statistics.median(walls):.2f} s "
            f"[{min(walls):.1f}-{max(walls):.1f}], workers' system time median {system:.1f} s; "
            f"warm median {statistics.median(warms):.2f} s [{min(warms):.2f}-{max(warms):.2f}]"
        )


if __name__ == "__main__":
    main()
