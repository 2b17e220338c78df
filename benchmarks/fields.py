"""Benchmark: four fields in one session on a Dask cluster, against one field at a time.

    python benchmarks/fields.py                     # 4 mini-sim fields, seeds 7, 11, 31, 123
    python benchmarks/fields.py --repeat 2 --out docs/benchmarks.md

The fields are mini-sim's design with four seeds (`skyqa.testing.seed_variant`); their
exposures and catalogs are generated once, not timed. Each timed run starts from a cache
holding only those, and runs every check but the baseline comparisons (a new seed has no
baseline), so each run builds the alignment, mosaics, overlaps and figures of every field:

- ``dask-1``: one session (``--field`` four times) on a ``LocalCluster`` with 1 worker;
- ``dask-2``: the same on a ``LocalCluster`` with 2 workers (one thread each);
- ``local-sequential``: four sessions one after another, each with the local process
  pool (``--skyqa-workers 2``): what a loop over fields did before;
- ``local-session``: one session with the local pool, 2 processes shared by the fields.

Times are wall-clock of the pytest process (and, for the sequential runs, their sum);
the cluster's workers are started before and kept between runs of one kind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import machine, measure  # noqa: E402

SEEDS = (7, 11, 31, 123)
KEPT_STAGES = ("exposures-", "catalog-")


def prepare(work: Path) -> tuple[list[Path], Path]:
    """The four specs and a cache holding their generated exposures and catalogs."""
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline
    from skyqa.testing import seed_variant

    specs_dir = work / "specs"
    specs_dir.mkdir(parents=True, exist_ok=True)
    specs = [seed_variant(resolve_field("mini-sim"), seed, specs_dir) for seed in SEEDS]
    seeded = work / "generated"
    for spec in specs:
        pipeline = Pipeline(resolve_field(str(spec)), seeded, workers=2)
        pipeline.exposures()
        pipeline.reference_catalog()
        pipeline.close()
    return specs, seeded


def fresh_cache(seeded: Path, cache: Path) -> Path:
    shutil.rmtree(cache, ignore_errors=True)
    shutil.copytree(seeded, cache)
    for entry in cache.glob("*/*"):
        if entry.is_dir() and not entry.name.startswith(KEPT_STAGES):
            shutil.rmtree(entry)
    return cache


def pytest_command(specs: list[Path], work: Path, *options: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", *[a for spec in specs for a in ("--field", str(spec))],
        "--skyqa-cache-dir", str(work / "cache"), "--skyqa-report-dir", str(work / "report"),
        "-k", "not test_matches_baseline", "-p", "no:cacheprovider", "-q",
        f"--basetemp={work / 'pytest-tmp'}", *options,
    ]  # fmt: skip


def run_kind(kind: str, specs: list[Path], seeded: Path, work: Path, repeat: int) -> list[float]:
    """Wall seconds of ``repeat`` cold runs of one kind."""
    times = []
    cluster = None
    if kind.startswith("dask-"):
        from distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=int(kind.split("-")[1]), threads_per_worker=1, processes=True,
            dashboard_address=None,
        )  # fmt: skip
    try:
        for number in range(repeat):
            fresh_cache(seeded, work / "cache")
            log = work / f"{kind}-{number}.log"
            if kind == "local-sequential":
                total = 0.0
                for spec in specs:
                    seconds, _, code = measure(
                        pytest_command([spec], work, "--skyqa-workers", "2"), work, log
                    )
                    total += seconds
                times.append(total)
            else:
                options = (
                    ("--skyqa-scheduler", cluster.scheduler_address)
                    if cluster is not None
                    else ("--skyqa-workers", "2")
                )
                seconds, _, code = measure(pytest_command(specs, work, *options), work, log)
                times.append(seconds)
            print(f"{kind} ({number + 1}/{repeat}): {times[-1]:.1f} s (exit {code})", flush=True)
    finally:
        if cluster is not None:
            cluster.close()
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("bench-fields"))
    parser.add_argument("--out", type=Path, default=None, help="append the table to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTEST_ADDOPTS", "-p no:hypothesispytest")
    specs, seeded = prepare(args.work)
    kinds = ("dask-1", "dask-2", "local-sequential", "local-session")
    times = {kind: run_kind(kind, specs, seeded, args.work, args.repeat) for kind in kinds}
    median = {kind: statistics.median(values) for kind, values in times.items()}
    lines = [
        "",
        f"## Four fields in one session ({len(SEEDS)} x mini-sim, seeds "
        f"{', '.join(map(str, SEEDS))}; `python benchmarks/fields.py --repeat {args.repeat}`)",
        "",
        f"Machine: {machine()}. Times: median of {args.repeat} cold runs each.",
        "",
        "| how | wall time | speed-up against dask-1 |",
        "|---|---|---|",
    ]
    for kind in kinds:
        values = times[kind]
        lines.append(
            f"| {kind} | {median[kind]:.1f} s [{min(values):.1f}-{max(values):.1f}] | "
            f"{median['dask-1'] / median[kind]:.2f} |"
        )
    lines += [
        "",
        f"Two Dask workers against one: {median['dask-1'] / median['dask-2']:.2f} x; one session "
        f"against four in a row (local pool): "
        f"{median['local-sequential'] / median['local-session']:.2f} x.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        with open(args.out, "a") as out:
            out.write(text)


if __name__ == "__main__":
    main()
