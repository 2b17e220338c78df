"""The whole workflow as one object: one public method per result.

Each stage (`skyqa.pipeline.stages`) runs at most once per `Pipeline`, in its own
directory of the on-disk cache, on copies of what the stage before it produced; a result
whose key (the field spec's relevant section, the content of its inputs, the versions of
the key packages and skyqa's own code for the stage) is already cached is reused. The
stages after the alignment are built together, in worker processes
(`skyqa.pipeline.scheduler`).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyqa import cache
from skyqa.cache import Cache, CacheEntry
from skyqa.closure import RememberedDigests
from skyqa.errors import FieldSpecError
from skyqa.offline import astrometry_db_off
from skyqa.oracle import seam_table
from skyqa.pipeline.computed import RESULT_NAMES, Computed
from skyqa.pipeline.scheduler import ExecutorFactory, Job, LaterJob, Scheduler, process_pool
from skyqa.pipeline.stages import (
    STAGES,
    Stage,
    mosaic_stage,
    overlap_part_stages,
    product_stage,
)
from skyqa.results import (
    ALIGNMENT,
    CATALOG,
    COLUMNS,
    EMISSION,
    EXPOSURES,
    MOSAIC_PREFIX,
    MOSAICS,
    OVERLAPS,
    PLACEMENT,
    PRODUCT_INPUTS,
    PRODUCTS,
    RESIDUALS,
    SEAMS,
    SKIES,
    SOURCES,
    product_stage_name,
)
from skyqa.workers import available_cpus

if TYPE_CHECKING:
    import pandas as pd

    from skyqa.acquire import ExposureSet
    from skyqa.align import AlignmentResult
    from skyqa.astrometry import AlignmentPlacement
    from skyqa.catalog import ReferenceCatalog
    from skyqa.drizzle import Mosaic
    from skyqa.faults import Fault
    from skyqa.field import FieldSpec
    from skyqa.products import ProductMeasures


CODE_DIGESTS = "code-digests.json"
"""In the cache's root: each stage's code digest, kept while skyqa's source is unchanged
(`skyqa.closure.RememberedDigests`)."""


def _print_progress(message: str) -> None:
    print(f"skyqa: {message}", file=sys.stderr, flush=True)


def _call_build(
    build: Callable[..., dict], field, fault, inputs: tuple, allow_db: bool, workdir: Path
) -> dict:
    with astrometry_db_off(allow_db):
        return build(field, fault, *inputs, workdir)


def _faulted_build(fault, field, build, workdir: Path) -> dict:
    with fault.active(field):
        record = build(workdir)
    fault.outputs(field, workdir, record)
    return record


def _described_build(build, describe, workdir: Path) -> dict:
    record = build(workdir)
    return {**record, **describe(workdir, record)}


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
        Stages built at once after the alignment (the four mosaics, the overlap
        measurement, the verification fit, the WCS measurements, the column statistics,
        the stars and the stages of ``also``); default: the CPUs
        available. 1 builds everything in this process.
    executor : callable, optional
        Makes the executor those stages are built with (`skyqa.pipeline.scheduler`);
        default: worker processes on this machine.

    Attributes
    ----------
    also : list of Stage
        Stages of the caller's own built in the same batch as the mosaics, each as soon as
        the results it needs are built (skyqa's report writer adds its figure groups,
        `skyqa.report.stages`). Default: none.
    wanted : set of str or None
        The results after the alignment that the caller will ask for (names of
        `skyqa.pipeline.stages.BATCH_RESULTS`): the batch builds only these, and the one
        asked for. None (the default): all of them (set by skyqa's plugin from the checks
        it collected).
    """

    field: FieldSpec
    workers: int
    progress: Callable[[str], None]

    def __init__(
        self,
        field: FieldSpec,
        cache_dir: Path | str,
        progress: Callable[[str], None] | None = None,
        allow_astrometry_db: bool = False,
        fault: Fault | None = None,
        workers: int | None = None,
        executor: ExecutorFactory = process_pool,
    ) -> None:
        self.field = field
        self.fault = fault
        self.workers = max(1, workers if workers is not None else available_cpus())
        self.cache = Cache(Path(cache_dir))
        self.code_digests = RememberedDigests(self.cache.root / CODE_DIGESTS)
        self.progress = progress or _print_progress
        self.versions = cache.package_versions()  # looked up here: tests replace it
        self.timings: dict[str, float] = {}
        self.also: list[Stage] = []
        self.wanted: set[str] | None = None
        self.scheduler = Scheduler(self.cache, field.name, self.progress, self.workers, executor)
        self._entries: dict[str, CacheEntry] = {}
        self._results: dict[str, Any] = {}
        self._stages: dict[str, Stage] = {}
        self._seams: tuple[tuple[str, ...], pd.DataFrame] | None = None
        self.allow_astrometry_db = allow_astrometry_db
        if fault is not None and not fault.applies_to(field):
            raise FieldSpecError(
                f"fault {fault.name!r} applies to {', '.join(fault.detectors)} fields; "
                f"field {field.name!r} is {field.detector_model.name}"
            )
        if fault is not None:
            self.progress(
                f"{field.name}: INJECTED FAULT {fault.label!r} ({fault.description}): this "
                "run tests the harness, its results are not QA of the field"
            )

    # --- the results ------------------------------------------------------------------

    @property
    def download_dir(self) -> Path:
        """Where a real field's files are downloaded: ``<cache>/<field>/mast``."""
        return self.cache.root / self.field.name / "mast"

    def exposures(self) -> ExposureSet:
        """The field's FLTs and visit DRZs (generated, or downloaded)."""
        return self.result_of(STAGES[EXPOSURES])

    def reference_catalog(self) -> ReferenceCatalog:
        """The reference catalog TweakReg aligns to."""
        return self.result_of(STAGES[CATALOG])

    def alignment(self) -> AlignmentResult:
        """TweakReg on the visit DRZs and tweakback into their FLTs (`skyqa.align`).

        With workers, it is built in the worker pool (which then stays open for the
        batch after it, drizzlepac imported in every worker), beside the column
        statistics if they are wanted (they need only the exposures)."""
        if ALIGNMENT not in self._results:
            stages = [STAGES[ALIGNMENT]] + ([STAGES[COLUMNS]] if self._wants(COLUMNS) else [])
            self._build_many([self._job(stage) for stage in stages], keep=True)
        return self.result_of(STAGES[ALIGNMENT])

    def column_outliers(self) -> pd.DataFrame:
        """Each exposure's most deviant detector column (`skyqa.columns.column_outliers`)."""
        return self.result_of(STAGES[COLUMNS])

    def emission(self) -> pd.DataFrame:
        """The extended-emission fraction of each exposure's chips (`skyqa.emission`)."""
        return self.result_of(STAGES[EMISSION])

    def residuals(self) -> pd.DataFrame:
        """What a new TweakReg fit finds left on the updated DRZs (`align.verify_alignment`):
        the shift file's table (`align.parse_shift_file`), ideally no shift at all."""
        return self._from_batch(RESIDUALS, STAGES[RESIDUALS])

    def placement(self) -> AlignmentPlacement:
        """The aligned WCSs measured on the sky (`skyqa.astrometry.measure_alignment`):
        tweakback's transfer into every FLT and, on synthetic fields, each FLT's offset
        from its true WCS."""
        return self._from_batch(PLACEMENT, STAGES[PLACEMENT])

    def source_offsets(self) -> pd.DataFrame:
        """Each aligned FLT's stars, found by photutils and placed by its WCS, against
        the reference catalog (`skyqa.sources.source_offsets`)."""
        return self._from_batch(SOURCES, STAGES[SOURCES])

    def overlaps(self) -> pd.DataFrame:
        """Sky differences of every overlapping pair of aligned FLTs (`skyqa.measure`)."""
        return self._from_batch(OVERLAPS, STAGES[OVERLAPS])

    def mosaic(self, skymethod: str) -> Mosaic:
        """The final mosaic of all aligned FLTs with one sky method."""
        return self._from_batch(MOSAICS, mosaic_stage(skymethod))

    def mosaics(self) -> dict[str, Mosaic]:
        """One mosaic per sky method of the field, in the spec's order."""
        return {method: self.mosaic(method) for method in self.field.astrodrizzle.skymethods}

    def seams(self) -> pd.DataFrame:
        """Each sky method's seam in every overlap, in units of the pair's pixel noise
        (`skyqa.oracle.seam_table`), from `overlaps` and the `mosaics` of the spec's
        methods; computed once."""
        return self._seam_table(self.overlaps(), self.mosaics())

    def _seam_table(self, overlaps: pd.DataFrame, mosaics: dict[str, Mosaic]) -> pd.DataFrame:
        methods = tuple(mosaics)
        if self._seams is None or self._seams[0] != methods:
            mdrizsky = {method: mosaic.mdrizsky for method, mosaic in mosaics.items()}
            self._seams = (methods, seam_table(overlaps, mdrizsky))
        return self._seams[1]

    def mosaic_skies(self) -> pd.DataFrame:
        """Every pair of mosaics' difference against their recorded sky differences,
        region by region (`skyqa.pixels.sky_regions`)."""
        return self._from_batch(SKIES, STAGES[SKIES])

    def products(self) -> ProductMeasures:
        """Every mosaic measured as a product: its stars against the catalog (and the
        truth), their fluxes against each exposure's, its geometry and keywords
        (`skyqa.products`), one product stage per sky method, in the spec's order."""
        parts = [
            self._from_batch(PRODUCTS, product_stage(method))
            for method in self.field.astrodrizzle.skymethods
        ]
        return type(parts[0]).join(parts)

    def computed(self) -> Computed:
        """The results this pipeline has produced so far (`Computed`): each stage's, the
        mosaics built (sky method -> Mosaic, in the spec's order) and, once the overlaps
        and a mosaic are built, their seams (`seams`, of the mosaics built); not the
        overlap parts, nor the stages of `also`."""
        results: dict[str, Any] = {
            name: value for name, value in self._results.items() if name in RESULT_NAMES
        }
        built = {
            value.skymethod: value
            for name, value in self._results.items()
            if name.startswith(MOSAIC_PREFIX)
        }
        methods = self.field.astrodrizzle.skymethods
        results[MOSAICS] = {method: built[method] for method in methods if method in built}
        products = [
            self._results[product_stage_name(method)]
            for method in methods
            if product_stage_name(method) in self._results
        ]
        if products:
            results[PRODUCTS] = type(products[0]).join(products)
        if OVERLAPS in results and results[MOSAICS]:
            results[SEAMS] = self._seam_table(results[OVERLAPS], results[MOSAICS])
        return Computed(**results)

    def has_built(self, stage: str) -> bool:
        """Whether this pipeline holds the result of ``stage`` (a stage name)."""
        return stage in self._results

    def stage_entry(self, stage: str) -> CacheEntry:
        """The cache entry of a stage that has run in this pipeline."""
        return self._entries[stage]

    def result_of(self, stage: Stage) -> Any:
        """The result of ``stage`` (one of `skyqa.pipeline.stages`, or a stage of your
        own): loaded already, else from its cache entry, built here if needed."""
        if stage.name not in self._results:
            entry, elapsed = self.scheduler.build(self._job(stage))
            self._keep(stage, entry, elapsed)
        return self._results[stage.name]

    # --- how they are made --------------------------------------------------------------

    def _job(self, stage: Stage) -> Job:
        """The job that builds ``stage``: its inputs (built first, if needed), its full
        cache key (their content, the spec, the code, the versions, any fault) and its
        build: faulted, then described."""
        inputs = stage.inputs(self)
        key: dict[str, Any] = {
            "inputs": {name: self._entries[name].content_digest for name in stage.needs(self)},
            "spec": stage.spec(self.field),
            "code": self.code_digests.digest(*stage.code()),
            "versions": self.versions,
            # Every build is handed the field: its spec's code and its detector model
            # (suffixes, units, chips, defaults) run in all of them.
            "detector": [self.field.detector, self.code_digests.modules("skyqa.field")],
        }
        if self.allow_astrometry_db:  # stwcs may then apply the database's WCS solutions
            key["astrometry_db"] = True
        build = functools.partial(
            _call_build, stage.build, self.field, self.fault, inputs, self.allow_astrometry_db
        )
        if self.fault is not None and self.fault.stage == stage.name:
            key["fault"] = self.fault.key()
            build = functools.partial(_faulted_build, self.fault, self.field, build)
        if stage.describe is not None:
            build = functools.partial(_described_build, build, stage.describe)
        self._stages[stage.name] = stage
        return Job(stage.name, stage.label, key, build, stage.cost, stage.drizzlepac)

    def _keep(self, stage: Stage, entry: CacheEntry, elapsed: float) -> None:
        self.code_digests.save()  # the cache holds an entry: the digests may go beside it
        self._entries[stage.name] = entry
        self._results[stage.name] = stage.load(entry)
        self.timings[stage.name] = elapsed

    def _done(self, job: Job, entry: CacheEntry, elapsed: float, how: str) -> None:
        self._keep(self._stages[job.stage], entry, elapsed)
        self.progress(f"{self.field.name}: {job.label}: {how} ({entry.directory})")

    def _build_many(self, jobs: list[Job], later: list[LaterJob] | None = None, keep=False):
        self.scheduler.build_many(
            jobs, later or [], built=lambda: set(self._results), done=self._done, keep=keep
        )

    def _wants(self, result: str, asked: str = "") -> bool:
        """Whether a batch builds ``result``: it is ``wanted`` (all are, without a
        ``wanted``), or it is the one ``asked`` for."""
        return self.wanted is None or result in self.wanted or result == asked

    def _from_batch(self, asked: str, stage: Stage) -> Any:
        """The result of ``stage``, part of the batch result ``asked``: the first time,
        the batch is built (`_batch`), and the stage here only if its worker failed."""
        if stage.name not in self._results:
            self._batch(asked)
        return self.result_of(stage)

    def _batch(self, asked: str) -> None:
        """Build the wanted results after the alignment at once, and ``asked``: the
        mosaics and every batch stage whose inputs are built; the others (the mosaics'
        sky regions, the stages of ``also``) as soon as theirs are.
        Every result of a batch is made from the alignment: it is built first."""
        self.alignment()
        methods = self.field.astrodrizzle.skymethods
        now: list[Stage] = []
        if any(self._wants(name, asked) for name in (MOSAICS, SKIES, PRODUCTS)):
            now += [mosaic_stage(method) for method in methods]
        if self._wants(OVERLAPS, asked):
            now += overlap_part_stages(self)
        later = []
        products = self._wants(PRODUCTS, asked)
        for name, stage in STAGES.items():
            # The products' inputs are nobody's fixture: built when the products are.
            wanted = self._wants(name, asked) or (name == PRODUCT_INPUTS and products)
            if not stage.batch or not wanted:
                continue
            needs = stage.needs(self)
            if set(needs) <= set(self._results):
                now.append(stage)
            else:
                later.append(LaterJob(name, needs, functools.partial(self._job, stage)))
        extra = [product_stage(method) for method in methods] if products else []
        later += [
            LaterJob(stage.name, stage.needs(self), functools.partial(self._job, stage))
            for stage in (*extra, *self.also)
        ]
        jobs = [self._job(stage) for stage in now if stage.name not in self._results]
        self._build_many(jobs, [job for job in later if job.stage not in self._results])

    def build_wanted(self) -> None:
        """Build everything this pipeline is `wanted` for (everything, without a
        ``wanted``) after the exposures and the catalog: the alignment, then the whole
        batch at once. `skyqa.pipeline.session.build_fields` runs it for several fields
        together."""
        self.alignment()
        self._batch("")

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker pool, if one is running (its workers wait for work otherwise).
        The pipeline stays usable: a later batch starts a new pool."""
        self.scheduler.close()
