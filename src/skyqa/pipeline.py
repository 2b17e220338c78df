"""The whole workflow as one object: exposures -> catalog -> alignment -> mosaics.

Each stage runs at most once per `Pipeline`, in its own directory of the on-disk cache,
on copies of what the stage before it produced; a result whose key (the field spec's
relevant section, the content of its inputs, the versions of the key packages and
skyqa's own code for the stage) is already cached is reused.

Usable without pytest::

    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), cache_dir="~/.cache/skyqa")
    mosaics = pipeline.mosaics()
    print(mosaics["match"].mdrizsky)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import pandas as pd

from skyqa import (
    acquire,
    align,
    astrometry,
    cache,
    catalog,
    drizzle,
    faults,
    headers,
    mast,
    measure,
    pixels,
    sandbox,
    simulate,
    sources,
    wfc3ir,
)
from skyqa.acquire import ExposureSet
from skyqa.align import AlignmentResult
from skyqa.astrometry import AlignmentPlacement
from skyqa.cache import Cache, CacheEntry
from skyqa.catalog import ReferenceCatalog
from skyqa.drizzle import Mosaic
from skyqa.faults import Fault
from skyqa.field import FieldSpec
from skyqa.workers import available_cpus, stop_now, worker_pool


def _print_progress(message: str) -> None:
    print(f"skyqa: {message}", file=sys.stderr, flush=True)


def offline_environment(allow_astrometry_db: bool = False) -> None:
    """Keep stwcs from querying the MAST astrometry database unless the user opts in.

    With ``ASTROMETRY_STEP_CONTROL`` unset, a direct updatewcs call tries the database
    three times with 60 s waits when there is no network.
    """
    if not allow_astrometry_db:
        os.environ["ASTROMETRY_STEP_CONTROL"] = "OFF"


DRIZZLEPAC_STAGES = ("alignment", "residuals", "mosaic-")
"""Stages (names or prefixes) that run drizzlepac."""


def _import_drizzlepac() -> None:
    """Worker start: import drizzlepac (about 1.6 s), on every worker at once.

    Never raises: an initializer that fails breaks the whole pool. A real import error
    is raised again by the stage that imports drizzlepac, inside its log capture
    (`skyqa.sandbox.console_to`). The deprecation warnings of drizzlepac's dependencies
    at import are the pipeline's, not the harness's: ignored here, where no log records
    them (a strict warnings filter, such as skyqa's own tests use, would make them errors).
    """
    from skyqa.sandbox import quiet_import

    try:
        for name in ("astrodrizzle", "tweakback", "tweakreg"):
            quiet_import(f"drizzlepac.{name}")
    except Exception:
        pass


@dataclasses.dataclass(frozen=True)
class StageJob:
    """One stage to build: its cache key, a picklable ``build(workdir)``, and ``load``,
    which turns the stage's cache entry into its result.

    ``describe(workdir, record)``, if given, measures what the checks read of the built
    outputs and returns it to add to the record: it runs after the build *and* after an
    injected fault has damaged the outputs, so a later run reads the record instead of
    the files and still sees the damage.
    """

    stage: str
    label: str
    key: dict
    build: Callable[[Path], dict]
    load: Callable[[CacheEntry], object] | None = None
    describe: Callable[[Path, dict], dict] | None = None


@dataclasses.dataclass(frozen=True)
class LaterJob:
    """A stage of a batch that can start only when the stages in ``needs`` are built:
    ``make()`` returns its `StageJob` then (its key names their content)."""

    stage: str
    needs: tuple[str, ...]
    make: Callable[[], StageJob]


def _mosaic_stage(skymethod: str) -> str:
    """The stage (and cache folder) name of the mosaic of one sky method."""
    return f"mosaic-{drizzle.method_directory_name(skymethod)}"


def _load_mosaic(entry: CacheEntry) -> Mosaic:
    return Mosaic.from_record(entry.directory, entry.record)


def _load_overlaps(entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(
        entry.directory / entry.record["pairs"], dtype={"exposure_a": str, "exposure_b": str}
    )


def _load_columns(entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(entry.directory / entry.record["table"], dtype={"rootname": str})


def _load_residuals(entry: CacheEntry) -> pd.DataFrame:
    return align.parse_shift_file(entry.directory / entry.record["shift_file"])


def _load_alignment(entry: CacheEntry) -> AlignmentResult:
    return AlignmentResult.from_record(entry.directory, entry.record)


def _load_placement(entry: CacheEntry) -> AlignmentPlacement:
    return AlignmentPlacement.from_record(entry.directory, entry.record)


def _load_figures(entry: CacheEntry) -> list[Path]:
    return [entry.directory / name for name in entry.record["figures"]]


def _fault_inputs(fault, field, stage, paths, workdir) -> list[Path]:
    if fault is not None and fault.stage == stage:
        return fault.inputs(field, paths, workdir)
    return list(paths)


def _faulted_build(fault, field, build, workdir: Path) -> dict:
    with fault.active(field):
        record = build(workdir)
    fault.outputs(field, workdir, record)
    return record


def _described_build(build, describe, workdir: Path) -> dict:
    record = build(workdir)
    return {**record, **describe(workdir, record)}


def _build_mosaic(field, fault, stage, flt_paths, skymethod, workdir: Path) -> dict:
    paths = _fault_inputs(fault, field, stage, flt_paths, workdir)
    return drizzle.drizzle_mosaic(paths, skymethod, field.astrodrizzle, workdir).to_record()


def _build_alignment(
    field, fault, exposures: ExposureSet, reference: ReferenceCatalog, params, workdir: Path
) -> dict:
    paths = [*exposures.flt_paths, *exposures.visit_drz_paths]
    paths = _fault_inputs(fault, field, "alignment", paths, workdir)
    flts, drzs = paths[: len(exposures.flt_paths)], paths[len(exposures.flt_paths) :]
    return align.align_visits(flts, drzs, reference.table, params, workdir).to_record()


def _build_residuals(field, drz_paths, catalog_path, workdir: Path) -> dict:
    align.verify_alignment(drz_paths, catalog_path, field.tweakreg, workdir)
    return {"shift_file": align.RESIDUAL_SHIFT_FILE}


def _build_columns(field, flt_paths, workdir: Path) -> dict:
    table = measure.column_outliers(flt_paths, field.astrodrizzle.final_bits)
    table.to_csv(workdir / "columns.csv", index=False)
    return {"table": "columns.csv"}


def _build_placement(alignment: AlignmentResult, truth_path, workdir: Path) -> dict:
    truth = None if truth_path is None else simulate.load_truth(truth_path)
    return astrometry.measure_alignment(alignment, truth).to_record(workdir)


def _build_sources(field, flt_paths, catalog_path, workdir: Path) -> dict:
    from astropy.table import Table

    from skyqa import sources

    table = Table.read(catalog_path, format="ascii.ecsv")
    offsets = sources.source_offsets(
        flt_paths, table["ra"], table["dec"], measure.parse_bits(field.astrodrizzle.final_bits)
    )
    offsets.to_csv(workdir / "source_offsets.csv", index=False)
    return {"table": "source_offsets.csv"}


def _load_sources(entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(
        entry.directory / entry.record["table"], dtype={"visit": str, "rootname": str}
    )


def _build_skies(field, mosaics: dict, flt_paths, workdir: Path) -> dict:
    from skyqa import pixels

    table = pixels.sky_regions(
        {method: (mosaic.sci_path, mosaic.wht_path) for method, mosaic in mosaics.items()},
        {method: mosaic.mdrizsky for method, mosaic in mosaics.items()},
        flt_paths,
        field.thresholds.min_overlap_pixels,
    )
    table.to_csv(workdir / "sky_regions.csv", index=False)
    return {"table": "sky_regions.csv"}


def _load_skies(entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(entry.directory / entry.record["table"], dtype={"region": str})


def _build_overlaps(field, fault, flt_paths, workdir: Path) -> dict:
    pairs = measure.measure_overlaps(
        _fault_inputs(fault, field, "overlaps", flt_paths, workdir),
        field.astrodrizzle.final_bits,
        field.thresholds.min_overlap_pixels,
    )
    pairs.to_csv(workdir / "pairs.csv", index=False)
    return {"pairs": "pairs.csv"}


def _build_figures(group: str, results: dict, workers: int, workdir: Path) -> dict:
    from skyqa import report

    drawn = report.draw_group(group, results, workdir, workers)
    return {"figures": [path.name for path in drawn]}


BATCH_RESULTS = frozenset(
    {"mosaics", "overlaps", "residuals", "placement", "columns", "skies", "sources"}
)
"""The results one batch builds together (`Pipeline.wanted`)."""


def default_cost(stage: str) -> float:
    """Relative cost of a stage that this cache has never built (from horsehead-sim on
    two cores: a sky-matching mosaic about 11 s, another mosaic 7 s, the overlap
    measurement 4 s, the stars on the catalog 6 s, the mosaics' sky regions 3 s, the
    verification fit 1 s, the WCS measurements 0.5 s, the column statistics 0.4 s, the
    report's figures 0.7 to 1.5 s a group)."""
    if stage.startswith("mosaic-"):
        return 11.0 if "match" in stage else 7.0
    known = {
        "overlaps": 4.0,
        "residuals": 1.0,
        "placement": 0.5,
        "columns": 0.4,
        "skies": 3.0,
        "sources": 6.0,
        "figures-mosaics": 1.5,
        "figures-alignment": 1.2,
        "figures-seams": 0.7,
    }
    return known.get(stage, 4.0)


def _loaded(job: StageJob, entry: CacheEntry) -> Any:
    """A stage's result from its cache entry."""
    if job.load is None:
        raise TypeError(f"skyqa bug: stage {job.stage} has no loader")
    return job.load(entry)


def _build_in_worker(root: Path, field: str, job: StageJob) -> tuple[bool, float]:
    """Worker process: build one cache entry (or find it built by someone else)."""
    started = time.perf_counter()
    entry = Cache(root).get_or_build(field, job.stage, job.key, job.build)
    return entry.reused, time.perf_counter() - started


class Pipeline:
    """The pipeline of one field, with results cached under ``cache_dir``.

    Parameters
    ----------
    field : FieldSpec
        What to process.
    cache_dir : Path or str
        Root of the on-disk cache (see `skyqa.cache`).
    progress : callable, optional
        Receives one line per long step; by default lines go to stderr.
    allow_astrometry_db : bool
        Let stwcs query the MAST astrometry database (needs the network).
    fault : Fault, optional
        Harness self-test only: inject this `skyqa.faults.Fault` into its stage (in that
        stage's own cache entries; nothing else changes).
    workers : int, optional
        Processes that build independent stages at once (the four mosaics, the overlap
        measurement, the verification fit, the WCS measurements, the column statistics and, if
        ``draw_figures``, the report's figures); default: the CPUs available. 1 builds
        everything in this process.

    Attributes
    ----------
    draw_figures : bool
        Build the report's figure groups (`figures`) in the same batch as the mosaics, each
        as soon as what it shows is built (set by skyqa's report writer). Default False.
    wanted : set of str or None
        The results after the alignment that the caller will ask for (names of
        `BATCH_RESULTS`): the batch builds only these, and the one asked for. None (the
        default): all of them (set by skyqa's plugin from the checks it collected).
    """

    def __init__(
        self,
        field: FieldSpec,
        cache_dir: Path | str,
        progress: Callable[[str], None] | None = None,
        allow_astrometry_db: bool = False,
        fault: Fault | None = None,
        workers: int | None = None,
    ) -> None:
        self.field = field
        self.fault = fault
        self.workers = max(1, workers if workers is not None else available_cpus())
        self.cache = Cache(Path(cache_dir))
        self.progress = progress or _print_progress
        self.versions = cache.package_versions()
        self.timings: dict[str, float] = {}
        self._entries: dict[str, CacheEntry] = {}
        self._results: dict[str, Any] = {}
        self.draw_figures = False
        self.wanted: set[str] | None = None
        self._pool: ProcessPoolExecutor | None = None
        offline_environment(allow_astrometry_db)
        if fault is not None:
            self.progress(
                f"{field.name}: INJECTED FAULT {fault.label!r} ({fault.description}): this "
                "run tests the harness, its results are not QA of the field"
            )

    def _stage(self, job: StageJob) -> CacheEntry:
        """``job``'s cache entry, built here if the cache does not have it."""
        if job.stage in self._entries:
            return self._entries[job.stage]
        job = self._prepare(job)
        started = time.perf_counter()
        self.progress(f"{self.field.name}: {job.label} ...")
        entry = self.cache.get_or_build(self.field.name, job.stage, job.key, job.build)
        elapsed = time.perf_counter() - started
        self.timings[job.stage] = elapsed
        how = "reused from cache" if entry.reused else f"done in {elapsed:.1f} s"
        self.progress(f"{self.field.name}: {job.label}: {how} ({entry.directory})")
        self._entries[job.stage] = entry
        return entry

    def _prepare(self, job: StageJob) -> StageJob:
        """The job with its full cache key (versions, any fault) and its build: faulted,
        then described."""
        key = {**job.key, "versions": self.versions}
        build = job.build
        if self.fault is not None and self.fault.stage == job.stage:
            key["fault"] = {
                "name": self.fault.name,
                "size": self.fault.size,
                "code": cache.source_digest(faults, pixels),
            }
            build = functools.partial(_faulted_build, self.fault, self.field, build)
        if job.describe is not None:
            build = functools.partial(_described_build, build, job.describe)
        return dataclasses.replace(job, key=key, build=build)

    def _result(self, stage: str, make: Callable[[], StageJob]) -> Any:
        """The result of ``stage``: loaded already, else from the cache entry of the job
        ``make()`` returns (built here if the cache does not have it)."""
        if stage not in self._results:
            job = make()
            self._results[stage] = _loaded(job, self._stage(job))
        return self._results[stage]

    def _keep(self, job: StageJob, entry: CacheEntry, elapsed: float, how: str) -> None:
        self._entries[job.stage] = entry
        self._results[job.stage] = _loaded(job, entry)
        self.timings[job.stage] = elapsed
        self.progress(f"{self.field.name}: {job.label}: {how} ({entry.directory})")

    def _keep_if_cached(self, job: StageJob) -> bool:
        """Load ``job``'s result if the cache holds it (``job`` prepared); whether it did."""
        entry = self.cache.find(self.field.name, job.stage, job.key)
        if entry is not None:
            self._keep(job, entry, 0.0, "reused from cache")
        return entry is not None

    def _build_concurrently(
        self, jobs: Sequence[StageJob], later: Sequence[LaterJob] = (), keep_pool: bool = False
    ) -> None:
        """Build independent stages in worker processes, ``self.workers`` at a time,
        longest first; and each of ``later`` as soon as the stages it needs are built.

        Each worker builds its own cache entry (its own directory, under the entry's lock);
        this process then loads the results. A stage whose worker failed is left for its
        own method to rebuild here, so that its error is reported where it would be
        without workers (and a later job that needs it is left to its method too). The
        pool is shut down at the end unless ``keep_pool`` (more stages follow).
        """
        prepared = [self._prepare(job) for job in jobs if job.stage not in self._results]
        pending = [job for job in prepared if not self._keep_if_cached(job)]
        if self.workers < 2 or not pending:
            if not keep_pool:
                self.close()
            return
        waiting = [job for job in later if job.stage not in self._results]

        def ready() -> list[StageJob]:
            """The later jobs whose stages are built now and are not cached."""
            jobs = []
            for later_job in [job for job in waiting if set(job.needs) <= set(self._results)]:
                waiting.remove(later_job)
                try:
                    job = self._prepare(later_job.make())
                except Exception as error:  # left to its own method, which reports it
                    self.progress(f"{self.field.name}: {later_job.stage}: not started: {error}")
                    continue
                if not self._keep_if_cached(job):
                    jobs.append(job)
            return jobs

        pending = self._longest_first(pending + ready())
        if len(pending) > 1:
            self.progress(
                f"{self.field.name}: building {len(pending)} independent stages, "
                f"{min(self.workers, len(pending))} at a time"
            )
        else:
            self.progress(f"{self.field.name}: {pending[0].label} ...")
        pool = self._worker_pool(pending, warm=keep_pool)

        def submit(jobs: Sequence[StageJob]) -> dict[Future, StageJob]:
            return {
                pool.submit(_build_in_worker, self.cache.root, self.field.name, job): job
                for job in jobs
            }

        try:
            running = submit(pending)
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    try:
                        reused, elapsed = future.result()
                    except Exception as error:  # reported again by the stage's own call
                        self.progress(
                            f"{self.field.name}: {job.label}: failed in a worker: {error}"
                        )
                        continue
                    entry = self.cache.find(self.field.name, job.stage, job.key)
                    if entry is None:  # changed since the worker wrote it: rebuilt by its call
                        continue
                    how = "reused from cache" if reused else f"done in {elapsed:.1f} s (worker)"
                    self._keep(job, dataclasses.replace(entry, reused=reused), elapsed, how)
                running.update(submit(self._longest_first(ready())))
        except BrokenProcessPool:  # a worker died: what is left, each method builds
            self.progress(f"{self.field.name}: the worker pool broke; going on here")
            keep_pool = False
        except BaseException:  # Ctrl-C (or a bug): no worker goes on building unasked
            if self._pool is not None:
                stop_now(self._pool)
                self._pool = None
            raise
        if not keep_pool:
            self.close()

    def _worker_pool(self, jobs: Sequence[StageJob], warm: bool = False) -> ProcessPoolExecutor:
        """The pipeline's pool of ``workers`` processes, started now if it is not running;
        every worker imports drizzlepac at its start if one of ``jobs`` runs it, or if
        ``warm`` (the pool is kept for stages that will)."""
        if self._pool is None:
            drizzlepac = warm or any(job.stage.startswith(DRIZZLEPAC_STAGES) for job in jobs)
            self._pool = worker_pool(self.workers, _import_drizzlepac if drizzlepac else None)
        return self._pool

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker pool, if one is running (its workers wait for work otherwise).
        The pipeline stays usable: a later batch starts a new pool."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _longest_first(self, jobs: Sequence[StageJob]) -> list[StageJob]:
        """``jobs`` by expected build time, longest first: a pool that takes them in this
        order finishes soonest. Expected: each stage's last build in this field's cache
        (any key), if every job has one; else `default_cost`."""
        field_dir = self.cache.root / self.field.name
        last = {}
        for job in jobs:
            try:
                manifests = sorted(
                    field_dir.glob(f"{job.stage}-*/{cache.MANIFEST}"),
                    key=lambda path: path.stat().st_mtime,
                )
                last[job.stage] = float(json.loads(manifests[-1].read_text())["build_seconds"])
            except (IndexError, KeyError, ValueError, OSError):
                break
        learned = len(last) == len(jobs)
        return sorted(
            jobs,
            key=lambda job: last[job.stage] if learned else default_cost(job.stage),
            reverse=True,
        )

    def _downstream_jobs(self, asked: str) -> list[StageJob]:
        """The stages after the alignment, which do not depend on one another, and the
        column statistics (which need only the exposures): those of ``wanted``, and
        ``asked`` (a name of `BATCH_RESULTS`)."""
        jobs = []
        if self._wants("mosaics", asked) or self._wants("skies", asked):
            jobs += [self._mosaic_job(method) for method in self.field.astrodrizzle.skymethods]
        makers = {
            "overlaps": self._overlaps_job,
            "residuals": self._residuals_job,
            "placement": self._placement_job,
            "columns": self._columns_job,
            "sources": self._sources_job,
        }
        return jobs + [make() for name, make in makers.items() if self._wants(name, asked)]

    def _wants(self, result: str, asked: str = "") -> bool:
        """Whether a batch builds ``result``: it is ``wanted`` (all are, without a
        ``wanted``), or it is the one ``asked`` for."""
        return self.wanted is None or result in self.wanted or result == asked

    def _later_jobs(self, asked: str = "") -> list[LaterJob]:
        """The mosaics' sky regions (if wanted) once every mosaic is built; the report's
        figure groups, if ``draw_figures``: each when its inputs are built."""
        later = []
        if self._wants("skies", asked):
            mosaics = tuple(_mosaic_stage(m) for m in self.field.astrodrizzle.skymethods)
            later.append(LaterJob("skies", mosaics, self._skies_job))
        if not self.draw_figures:
            return later
        from skyqa.report import FIGURE_GROUPS

        return later + [
            LaterJob(
                f"figures-{group}",
                self._figure_stages(group),
                functools.partial(self._figures_job, group),
            )
            for group in FIGURE_GROUPS
        ]

    def _batch(self, asked: str) -> None:
        """Build the results after the alignment at once (`_build_concurrently`): the
        ``wanted`` ones, and ``asked``."""
        self._build_concurrently(self._downstream_jobs(asked), self._later_jobs(asked))

    def _from_batch(self, asked: str, stage: str, make: Callable[[], StageJob]) -> Any:
        """The result of ``stage``, part of the batch result ``asked`` (a name of
        `BATCH_RESULTS`): the first time, the batch is built (`_batch`) and the stage is
        built here only if its worker failed."""
        if stage not in self._results:
            self._batch(asked)
        return self._result(stage, make)

    def computed(self) -> dict:
        """The results this pipeline has produced so far: exposures, catalog, alignment,
        overlaps, residuals, placement, columns, and ``mosaics`` (sky method -> Mosaic)."""
        results = {
            key: value
            for key, value in self._results.items()
            if not key.startswith(("mosaic-", "figures-"))
        }
        results["mosaics"] = {
            value.skymethod: value
            for key, value in self._results.items()
            if key.startswith("mosaic-")
        }
        return results

    @property
    def download_dir(self) -> Path:
        """Where a real field's files are downloaded: ``<cache>/<field>/mast``."""
        return self.cache.root / self.field.name / "mast"

    def entry_digests(self) -> dict[str, str]:
        """Content digest of every stage this pipeline has run, by stage."""
        return {stage: entry.content_digest for stage, entry in sorted(self._entries.items())}

    def stage_entry(self, stage: str) -> CacheEntry:
        """The cache entry of a stage that has run in this pipeline."""
        return self._entries[stage]

    def exposures(self) -> ExposureSet:
        """The field's FLTs and visit DRZs (generated, or downloaded)."""
        if "exposures" not in self._results:
            section = getattr(self.field, self.field.kind)
            key = {
                "kind": self.field.kind,
                "target": dataclasses.asdict(self.field.target),
                "data": dataclasses.asdict(section),
                # A user's own files: their content keys the result, not their path.
                "local_files": {
                    path.name: cache.file_digest(path)
                    for path in (
                        acquire.local_inputs(self.field) if self.field.kind == "local" else []
                    )
                },
                "code": cache.source_digest(
                    simulate, wfc3ir, drizzle, sandbox, headers, acquire, mast
                ),
            }

            def build(workdir: Path) -> dict:
                return acquire.acquire_exposures(
                    self.field, workdir, self.progress, self.download_dir, self.workers
                ).to_record()

            entry = self._stage(StageJob("exposures", "acquiring exposures", key, build))
            self._results["exposures"] = ExposureSet.from_record(entry.directory, entry.record)
        return self._results["exposures"]

    def reference_catalog(self) -> ReferenceCatalog:
        """The reference catalog TweakReg aligns to."""
        if "catalog" not in self._results:
            exposures = self.exposures()
            key = {
                "exposures": self._entries["exposures"].content_digest,
                "catalog": dataclasses.asdict(self.field.catalog),
                "code": cache.source_digest(catalog, sandbox),
            }

            def build(workdir: Path) -> dict:
                built = catalog.build_reference_catalog(
                    self.field, exposures, workdir, self.download_dir
                )
                return {"source": built.source, "path": built.path.name}

            entry = self._stage(StageJob("catalog", "reference catalog", key, build))
            path = entry.directory / entry.record["path"]
            self._results["catalog"] = ReferenceCatalog(entry.record["source"], path)
        return self._results["catalog"]

    def _columns_job(self) -> StageJob:
        exposures = self.exposures()
        key = {
            "exposures": self._entries["exposures"].content_digest,
            "final_bits": self.field.astrodrizzle.final_bits,
            "code": cache.source_digest(measure, headers),
        }
        build = functools.partial(_build_columns, self.field, exposures.flt_paths)
        return StageJob("columns", "measuring detector columns", key, build, _load_columns)

    def column_outliers(self) -> pd.DataFrame:
        """Each exposure's most deviant detector column (`skyqa.measure.column_outliers`)."""
        return self._result("columns", self._columns_job)

    def _alignment_job(self) -> StageJob:
        exposures = self.exposures()
        reference = self.reference_catalog()
        key = {
            "exposures": self._entries["exposures"].content_digest,
            "catalog": self._entries["catalog"].content_digest,
            "tweakreg": dataclasses.asdict(self.field.tweakreg),
            "code": cache.source_digest(align, sandbox, headers),
        }
        build = functools.partial(
            _build_alignment, self.field, self.fault, exposures, reference, self.field.tweakreg
        )
        label = "aligning visits to the reference catalog"
        return StageJob("alignment", label, key, build, _load_alignment)

    def alignment(self) -> AlignmentResult:
        """TweakReg on the visit DRZs and tweakback into their FLTs (`skyqa.align`).

        With workers, it is built in the worker pool (which then stays open for the
        batch after it, drizzlepac imported in every worker), beside the column
        statistics if they are wanted (they need only the exposures)."""
        if "alignment" not in self._results:
            jobs = [self._alignment_job()]
            if self._wants("columns"):
                jobs.append(self._columns_job())
            self._build_concurrently(jobs, keep_pool=True)
        return self._result("alignment", self._alignment_job)

    def _mosaic_job(self, skymethod: str) -> StageJob:
        aligned = self.alignment()
        stage = _mosaic_stage(skymethod)
        parameters = dataclasses.asdict(self.field.astrodrizzle)
        parameters.pop("skymethods")
        key = {
            "alignment": self._entries["alignment"].content_digest,
            "astrodrizzle": parameters,
            "skymethod": skymethod,
            "code": cache.source_digest(drizzle, sandbox, headers),
        }
        build = functools.partial(
            _build_mosaic, self.field, self.fault, stage, aligned.aligned_flt_paths, skymethod
        )
        label = f"drizzling the {skymethod} mosaic"
        return StageJob(stage, label, key, build, _load_mosaic, drizzle.describe_mosaic)

    def _residuals_job(self) -> StageJob:
        aligned = self.alignment()
        key = {
            "alignment": self._entries["alignment"].content_digest,
            "tweakreg": dataclasses.asdict(self.field.tweakreg),
            "code": cache.source_digest(align, sandbox),
        }
        build = functools.partial(
            _build_residuals,
            self.field,
            aligned.visit_drz_paths,
            aligned.directory / align.CATALOG_FILE,
        )
        return StageJob(
            "residuals", "verifying the alignment (a new fit)", key, build, _load_residuals
        )

    def _placement_job(self) -> StageJob:
        aligned = self.alignment()
        truth_path = self.exposures().truth_path
        key = {
            "alignment": self._entries["alignment"].content_digest,
            "exposures": self._entries["exposures"].content_digest,
            "code": cache.source_digest(astrometry, align, simulate),
        }
        build = functools.partial(_build_placement, aligned, truth_path)
        return StageJob(
            "placement", "measuring the aligned WCSs on the sky", key, build, _load_placement
        )

    def _sources_job(self) -> StageJob:
        aligned = self.alignment()
        reference = self.reference_catalog()
        key = {
            "alignment": self._entries["alignment"].content_digest,
            "catalog": self._entries["catalog"].content_digest,
            "final_bits": self.field.astrodrizzle.final_bits,
            "code": cache.source_digest(sources, pixels, astrometry, headers),
        }
        build = functools.partial(
            _build_sources, self.field, aligned.aligned_flt_paths, reference.path
        )
        label = "finding stars in the aligned FLTs (photutils) against the catalog"
        return StageJob("sources", label, key, build, _load_sources)

    def source_offsets(self) -> pd.DataFrame:
        """Each aligned FLT's stars, found by photutils and placed by its WCS, against
        the reference catalog (`skyqa.sources.source_offsets`)."""
        return self._from_batch("sources", "sources", self._sources_job)

    def _skies_job(self) -> StageJob:
        aligned = self.alignment()
        mosaics = self.mosaics()
        key = {
            "mosaics": {
                method: self._entries[_mosaic_stage(method)].content_digest for method in mosaics
            },
            "min_pixels": self.field.thresholds.min_overlap_pixels,
            "code": cache.source_digest(pixels, headers),
        }
        build = functools.partial(_build_skies, self.field, mosaics, aligned.aligned_flt_paths)
        label = "comparing the mosaics' pixels with their recorded skies"
        return StageJob("skies", label, key, build, _load_skies)

    def mosaic_skies(self) -> pd.DataFrame:
        """Every pair of mosaics' difference against their recorded sky differences,
        region by region (`skyqa.pixels.sky_regions`)."""
        return self._from_batch("skies", "skies", self._skies_job)

    def _overlaps_job(self) -> StageJob:
        aligned = self.alignment()
        key = {
            "alignment": self._entries["alignment"].content_digest,
            "final_bits": self.field.astrodrizzle.final_bits,
            "min_pixels": self.field.thresholds.min_overlap_pixels,
            "code": cache.source_digest(measure, headers),
        }
        build = functools.partial(
            _build_overlaps, self.field, self.fault, aligned.aligned_flt_paths
        )
        return StageJob(
            "overlaps", "measuring overlaps between exposures", key, build, _load_overlaps
        )

    def _figure_stages(self, group: str) -> tuple[str, ...]:
        """The stages whose results a figure group shows."""
        from skyqa.report import FIGURE_GROUPS

        stages = []
        for name in FIGURE_GROUPS[group]:
            if name == "mosaics":
                stages += [_mosaic_stage(method) for method in self.field.astrodrizzle.skymethods]
            else:
                stages.append(name)
        return tuple(stages)

    def _figures_job(self, group: str, workers: int = 1) -> StageJob:
        from importlib.metadata import version

        from skyqa import report

        stages = self._figure_stages(group)
        missing = [stage for stage in stages if stage not in self._results]
        if missing:
            raise ValueError(
                f"The {group} figures of {self.field.name} show {', '.join(missing)}, "
                "which this pipeline has not built yet."
            )
        results = self.computed()
        key = {
            "inputs": {stage: self._entries[stage].content_digest for stage in stages},
            "code": cache.source_digest(report, drizzle, measure),
            "matplotlib": version("matplotlib"),
        }
        shown = {name: results[name] for name in report.FIGURE_GROUPS[group]}
        build = functools.partial(_build_figures, group, shown, workers)
        return StageJob(
            f"figures-{group}", f"drawing the {group} figures", key, build, _load_figures
        )

    def figures(self, group: str) -> list[Path]:
        """The report's figures of one group (`skyqa.report.FIGURE_GROUPS`), from the
        cache, else drawn now (in ``workers`` processes).

        Raises
        ------
        ValueError
            If the results the group shows have not been built by this pipeline.
        skyqa.report.FigureError
            If a figure could not be drawn (nothing of the group is cached).
        """
        return self._result(
            f"figures-{group}", functools.partial(self._figures_job, group, self.workers)
        )

    def mosaic(self, skymethod: str) -> Mosaic:
        """The final mosaic of all aligned FLTs with one sky method."""
        return self._from_batch(
            "mosaics", _mosaic_stage(skymethod), functools.partial(self._mosaic_job, skymethod)
        )

    def overlaps(self) -> pd.DataFrame:
        """Sky differences of every overlapping pair of aligned FLTs (`skyqa.measure`)."""
        return self._from_batch("overlaps", "overlaps", self._overlaps_job)

    def residuals(self) -> pd.DataFrame:
        """What a new TweakReg fit finds left on the updated DRZs (`align.verify_alignment`):
        the shift file's table (`align.parse_shift_file`), ideally no shift at all."""
        return self._from_batch("residuals", "residuals", self._residuals_job)

    def placement(self) -> AlignmentPlacement:
        """The aligned WCSs measured on the sky (`skyqa.astrometry.measure_alignment`):
        tweakback's transfer into every FLT and, on synthetic fields, each FLT's offset
        from its true WCS."""
        return self._from_batch("placement", "placement", self._placement_job)

    def mosaics(self) -> dict[str, Mosaic]:
        """One mosaic per sky method of the field, in the spec's order."""
        return {method: self.mosaic(method) for method in self.field.astrodrizzle.skymethods}
