"""Benchmark: the bare pipeline against skyqa's cold and warm runs, at several field sizes.

    python benchmarks/run.py                       # 4, 18 and 72 exposures
    python benchmarks/run.py --sizes 4 18 --repeat 3 --out docs/benchmarks.md
    python benchmarks/run.py --sizes 288 --detector 256 --no-bare   # 288 subarray FLTs

For each size, the field's files are generated once (by skyqa's simulator, not timed);
then, each starting from those same files:

- bare: ``benchmarks/bare_pipeline.py`` in a subprocess (TweakReg twice, tweakback,
  AstroDrizzle once per sky method, in sequence), on a copy of the files;
- cold: ``pytest --field SPEC`` on a cache holding only the generated exposures and the
  reference catalog: alignment, four mosaics, overlaps, every check and the report;
- warm: the same command again, nothing changed.

Wall time and peak memory (resident set of the whole process tree, sampled every
100 ms) are measured from outside; the table is appended to ``--out`` (a dated section)
with the machine described, and the cold run's log (each job's time and peak memory) is
kept in the work folder.
Every timed run starts after ``os.sync()``, so that none pays for writing out the files
of the one before. ``--repeat N`` runs the three N times in turn (bare, cold, warm, bare,
...), each from fresh copies; the table gives each one's median, its range, and the
largest peak memory.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASE_SPEC = ROOT / "src" / "skyqa" / "fields" / "horsehead-sim.toml"
VISIT_STEP = (123.742401, 113.112099)  # horsehead-sim's visit grid, arcsec of POSTARG
FULL_FRAME = 1014


def visit_code(index: int) -> str:
    """Two characters naming a visit, as in HST rootnames (0-9 then a-z: 1296 visits)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return digits[index // 36] + digits[index % 36]


def bench_name(size: int, detector: int) -> str:
    """The generated field's name: ``bench-72``, ``bench-288-256`` (subarray)."""
    return f"bench-{size}" if detector == FULL_FRAME else f"bench-{size}-{detector}"


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _tree_rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (Linux /proc).

    The tree is walked from the process down (``/proc/PID/task/TID/children``), not by
    scanning every process on the machine: the sampler must not compete for the CPUs it
    measures.
    """
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _rss_bytes(current)
        stack.extend(_children(current))
    return total


def measure(command: list[str], cwd: Path, log: Path) -> tuple[float, float, int]:
    """Run a command; return (wall seconds, peak tree memory in MB, exit code)."""
    os.sync()  # the files written before are on disk: their write-back is not timed
    started = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak = 0
        while process.poll() is None:
            peak = max(peak, _tree_rss_bytes(process.pid))
            time.sleep(0.1)
    return time.perf_counter() - started, peak / 2**20, process.returncode


def field_spec(size: int, directory: Path, detector: int = FULL_FRAME) -> Path:
    """A horsehead-sim-like spec with ``size`` exposures (2 per visit).

    4: the first two visits; 18: horsehead-sim itself; more: the 3x3 design repeated on
    a larger square grid of visits (same dither, exposure times, dates and roll angles
    cycled), with stars and nebula scaled to keep their density. ``detector`` below
    1014: subarray exposures of that many pixels a side, the visit grid and the dither
    shrunk in proportion (mini-sim's design: 256 pixels, visits 30" apart).
    """
    if size == 18 and detector == FULL_FRAME:
        return BASE_SPEC
    text = BASE_SPEC.read_text()
    head, _, _ = text.partition("[[synthetic.exposure]]")
    base = tomllib.loads(text)["synthetic"]["exposure"]
    visits = [base[i : i + 2] for i in range(0, len(base), 2)]
    lines = []
    shrink = detector / FULL_FRAME
    if size < 18:
        chosen = [exposure for visit in visits[: size // 2] for exposure in visit]
    else:
        side = round((size / 2) ** 0.5)
        if 2 * side * side != size:
            raise SystemExit(f"size {size}: give 4, 18 or twice a square (8, 32, 72, ...)")
        chosen = []
        for index in range(side * side):
            column, row = divmod(index, side)
            model = visits[index % len(visits)]
            dither = (model[1]["postarg2"] - model[0]["postarg2"]) * shrink
            for number, exposure in enumerate(model):
                chosen.append(
                    {
                        **exposure,
                        "rootname": f"ibxm{visit_code(index)}e{number + 1}q",
                        "asn_id": f"IBXM{visit_code(index).upper()}030",
                        "postarg1": (column - (side - 1) / 2) * VISIT_STEP[0] * shrink,
                        "postarg2": (row - (side - 1) / 2) * VISIT_STEP[1] * shrink
                        + number * dither,
                    }
                )
        # The nebula keeps its density on the sky; the stars keep their number per
        # exposure (a subarray needs a denser field to be aligned: mini-sim's density).
        scale = side * side / len(visits)
        for key, factor in (("n_stars", scale), ("nebula_blobs", scale * shrink**2)):
            value = tomllib.loads(text)["synthetic"][key]
            head = head.replace(f"{key} = {value}", f"{key} = {max(1, round(value * factor))}")
        # The catalog's stars cover a disc that grows with the grid's side: the same density.
        radius = 5.0 * side / 3 * shrink
        head = head.replace("catalog_radius_arcmin = 5.0", f"catalog_radius_arcmin = {radius}")
        head = head.replace("radius_arcmin = 5.0", f"radius_arcmin = {radius}")
    name = bench_name(size, detector)
    head = head.replace(f"detector_size = {FULL_FRAME}", f"detector_size = {detector}")
    head = head.replace('name = "horsehead-sim"', f'name = "{name}"', 1)
    for exposure in chosen:
        lines.append("[[synthetic.exposure]]")
        for key, value in exposure.items():
            lines.append(f"{key} = {value!r}".replace("'", '"'))
        lines.append("")
    path = directory / f"{name}.toml"
    path.write_text(head + "\n".join(lines))
    return path


def prepare(spec: Path, work: Path, workers: int) -> tuple[Path, Path]:
    """Generate the field once; return (folder of its files, cache holding only them)."""
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    seed_cache = work / "generated-cache"
    pipeline = Pipeline(resolve_field(str(spec)), seed_cache, workers=workers)
    exposures = pipeline.exposures()
    catalog = pipeline.reference_catalog()
    files = work / "files"
    shutil.copytree(exposures.directory, files, ignore=shutil.ignore_patterns("MANIFEST.json"))
    shutil.copy2(catalog.path, files / "reference_catalog.ecsv")
    return files, seed_cache


def run_size(
    size: int,
    work: Path,
    workers: int,
    repeat: int = 1,
    detector: int = FULL_FRAME,
    bare: bool = True,
) -> dict:
    """Time bare (unless not ``bare``), cold and warm ``repeat`` times in turn; each a
    list of measurements."""
    work.mkdir(parents=True, exist_ok=True)
    spec = field_spec(size, work, detector)
    name = bench_name(size, detector)
    print(f"{name}: generating the field ({spec.name}) ...", flush=True)
    files, seed_cache = prepare(spec, work, workers)
    bare_dir = work / "bare"
    harness_cache = work / "harness-cache"
    command = [
        sys.executable, "-m", "pytest", "--field", str(spec),
        "--skyqa-cache-dir", str(harness_cache), "--skyqa-workers", str(workers),
        "--skyqa-report-dir", str(work / "report"), "-p", "no:cacheprovider", "-q",
        f"--basetemp={work / 'pytest-tmp'}",
    ]  # fmt: skip
    if spec != BASE_SPEC:  # a generated field has no stored baseline
        command += ["-k", "not test_matches_baseline"]
    runs: dict[str, list] = {"bare": [], "cold": [], "warm": []}
    for round_number in range(1, repeat + 1):
        of = f" ({round_number}/{repeat})" if repeat > 1 else ""
        for folder in (bare_dir, harness_cache):
            if folder.exists():
                shutil.rmtree(folder)
        if bare:
            shutil.copytree(files, bare_dir)
            print(f"{name}: bare pipeline{of} ...", flush=True)
            runs["bare"].append(
                measure(
                    [sys.executable, str(HERE / "bare_pipeline.py"), str(bare_dir), str(spec)],
                    work,
                    work / "bare.log",
                )
            )
        shutil.copytree(seed_cache, harness_cache)
        for entry in harness_cache.glob("*/*"):
            if entry.is_dir() and not entry.name.startswith(("exposures-", "catalog-")):
                shutil.rmtree(entry)
        print(f"{name}: harness, cold{of} ...", flush=True)
        runs["cold"].append(measure(command, work, work / "cold.log"))
        print(f"{name}: harness, warm{of} ...", flush=True)
        runs["warm"].append(measure(command, work, work / "warm.log"))
    n_flt = len(list(files.glob("*_flt.fits")))
    return {"size": n_flt, **runs}


def summarise(runs: list[tuple[float, float, int]]) -> tuple[float, float, float, float, int]:
    """(median, fastest, slowest seconds, largest peak MB, first nonzero exit code)."""
    seconds = [run[0] for run in runs]
    codes = [run[2] for run in runs if run[2]]
    return (
        statistics.median(seconds),
        min(seconds),
        max(seconds),
        max(run[1] for run in runs),
        codes[0] if codes else 0,
    )


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    if Path("/proc/meminfo").is_file():
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 2**20:.0f} GiB memory"
    model = ""
    if Path("/proc/cpuinfo").is_file():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import entry_points, version

    plugins = sorted({entry.dist.name for entry in entry_points(group="pytest11") if entry.dist})
    return (
        f"{platform.platform()}, {cpus} CPUs available ({model}){memory}; Python "
        f"{platform.python_version()}, drizzlepac {version('drizzlepac')}, numpy "
        f"{version('numpy')}, astropy {version('astropy')}; pytest plugins installed: "
        f"{', '.join(plugins)}"
    )


def table(results: list[dict], workers: int, repeat: int) -> str:
    how = "one run each"
    if repeat > 1:
        how = f"median of {repeat} runs each (fastest-slowest in brackets)"
    lines = [
        f"Machine: {machine()}. Harness workers: {workers}. Times: {how}.",
        "",
        "| exposures | bare pipeline | harness cold | cold / bare | harness warm | warm / bare "
        "| peak memory bare / cold / warm |",
        "|---|---|---|---|---|---|---|",
    ]

    def seconds(summary: tuple) -> str:
        spread = f" [{summary[1]:.1f}-{summary[2]:.1f}]" if repeat > 1 else ""
        return f"{summary[0]:.1f} s{spread}"

    for result in results:
        cold, warm = summarise(result["cold"]), summarise(result["warm"])
        bare = summarise(result["bare"]) if result["bare"] else None
        codes = {"cold": cold[4], "warm": warm[4], "bare": bare[4] if bare else 0}
        flag = "" if not any(codes.values()) else f" (exit codes {codes})"
        if bare:
            versus = f"{seconds(bare)} | {seconds(cold)} | {cold[0] / bare[0]:.2f} "
            warm_ratio, bare_peak = f"{warm[0] / bare[0]:.3f}", f"{bare[3]:.0f}"
        else:
            versus, warm_ratio, bare_peak = f"not run | {seconds(cold)} | - ", "-", "-"
        lines.append(
            f"| {result['size']} | {versus}| {seconds(warm)} | {warm_ratio} | {bare_peak} / "
            f"{cold[3]:.0f} / {warm[3]:.0f} MB{flag} |"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        first_cold, last_cold = summarise(first["cold"])[0], summarise(last["cold"])[0]
        growth = (last_cold / first_cold) / (last["size"] / first["size"])
        lines += [
            "",
            f"Cold cost per exposure, {last['size']} against {first['size']} exposures: "
            f"{growth:.2f} times (below 1: grows slower than linearly).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 18, 72])
    parser.add_argument(
        "--detector",
        type=int,
        default=FULL_FRAME,
        help="pixels a side of each exposure (a subarray below 1014); default full frame",
    )
    parser.add_argument("--no-bare", action="store_true", help="time only skyqa's runs")
    parser.add_argument("--workers", type=int, default=None, help="default: the CPUs")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (kept)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each run this many times (median shown)"
    )
    arguments = parser.parse_args(argv)
    from skyqa.workers import available_cpus

    workers = arguments.workers or available_cpus()
    work = arguments.work or Path(os.environ.get("TMPDIR", "/tmp")) / "skyqa-benchmark"
    if work.exists():
        shutil.rmtree(work)
    repeat = max(1, arguments.repeat)
    results = [
        run_size(
            size,
            work / bench_name(size, arguments.detector),
            workers,
            repeat,
            arguments.detector,
            bare=not arguments.no_bare,
        )
        for size in arguments.sizes
    ]
    text = table(results, workers, repeat)
    command = " ".join(["python benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])])
    with arguments.out.open("a") as out:
        out.write(f"\n## `{command}` ({time.strftime('%Y-%m-%d')})\n\n{text}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
