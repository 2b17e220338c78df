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
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from astropy.table import Table

from skyqa import acquire, align, cache, catalog, drizzle, mast, measure, simulate, wfc3ir
from skyqa.acquire import ExposureSet
from skyqa.align import AlignmentResult
from skyqa.cache import Cache, CacheEntry
from skyqa.catalog import ReferenceCatalog
from skyqa.drizzle import Mosaic
from skyqa.faults import Fault
from skyqa.field import FieldSpec


def _print_progress(message: str) -> None:
    print(f"skyqa: {message}", file=sys.stderr, flush=True)


def offline_environment(allow_astrometry_db: bool = False) -> None:
    """Keep stwcs from querying the MAST astrometry database unless the user opts in.

    With ``ASTROMETRY_STEP_CONTROL`` unset, a direct updatewcs call tries the database
    three times with 60 s waits when there is no network.
    """
    if not allow_astrometry_db:
        os.environ["ASTROMETRY_STEP_CONTROL"] = "OFF"


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
    """

    def __init__(
        self,
        field: FieldSpec,
        cache_dir: Path | str,
        progress: Callable[[str], None] | None = None,
        allow_astrometry_db: bool = False,
        fault: Fault | None = None,
    ) -> None:
        self.field = field
        self.fault = fault
        self.cache = Cache(Path(cache_dir))
        self.progress = progress or _print_progress
        self.versions = cache.package_versions()
        self.timings: dict[str, float] = {}
        self._entries: dict[str, CacheEntry] = {}
        self._results: dict[str, object] = {}
        offline_environment(allow_astrometry_db)
        if fault is not None:
            self.progress(
                f"{field.name}: INJECTED FAULT {fault.name!r} ({fault.description}): this "
                "run tests the harness, its results are not QA of the field"
            )

    def _stage(
        self,
        stage: str,
        label: str,
        key: dict,
        build: Callable[[Path], dict],
    ) -> CacheEntry:
        if stage in self._entries:
            return self._entries[stage]
        if self._faulted(stage):
            key = {**key, "fault": self.fault.name}
            build = self._with_fault(build)
        started = time.perf_counter()
        self.progress(f"{self.field.name}: {label} ...")
        entry = self.cache.get_or_build(
            self.field.name, stage, {**key, "versions": self.versions}, build
        )
        elapsed = time.perf_counter() - started
        self.timings[stage] = elapsed
        how = "reused from cache" if entry.reused else f"done in {elapsed:.1f} s"
        self.progress(f"{self.field.name}: {label}: {how} ({entry.directory})")
        self._entries[stage] = entry
        return entry

    def _faulted(self, stage: str) -> bool:
        return self.fault is not None and self.fault.stage == stage

    def _with_fault(self, build: Callable[[Path], dict]) -> Callable[[Path], dict]:
        fault = self.fault

        def faulted_build(workdir: Path) -> dict:
            with fault.active(self.field):
                record = build(workdir)
            fault.outputs(self.field, workdir, record)
            return record

        return faulted_build

    def _inputs(self, stage: str, paths, workdir: Path) -> list[Path]:
        """The files a stage reads: ``paths``, or a fault's damaged copies of them."""
        if self._faulted(stage):
            return self.fault.inputs(self.field, paths, workdir)
        return list(paths)

    def computed(self) -> dict:
        """The results this pipeline has produced so far: exposures, catalog, alignment,
        overlaps, and ``mosaics`` (sky method -> Mosaic)."""
        results = {
            key: value for key, value in self._results.items() if not key.startswith("mosaic-")
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
                "code": cache.source_digest(simulate, wfc3ir, drizzle, acquire, mast),
            }

            def build(workdir: Path) -> dict:
                return acquire.acquire_exposures(
                    self.field, workdir, self.progress, self.download_dir
                ).to_record()

            entry = self._stage("exposures", "acquiring exposures", key, build)
            self._results["exposures"] = ExposureSet.from_record(entry.directory, entry.record)
        return self._results["exposures"]

    def reference_catalog(self) -> ReferenceCatalog:
        """The reference catalog TweakReg aligns to."""
        if "catalog" not in self._results:
            exposures = self.exposures()
            key = {
                "exposures": self._entries["exposures"].content_digest,
                "catalog": dataclasses.asdict(self.field.catalog),
                "code": cache.source_digest(catalog),
            }

            def build(workdir: Path) -> dict:
                built = catalog.build_reference_catalog(
                    self.field, exposures, workdir, self.download_dir
                )
                return {"source": built.source, "path": built.path.name}

            entry = self._stage("catalog", "reference catalog", key, build)
            path = entry.directory / entry.record["path"]
            self._results["catalog"] = ReferenceCatalog(
                entry.record["source"], path, Table.read(path, format="ascii.ecsv")
            )
        return self._results["catalog"]

    def alignment(self) -> AlignmentResult:
        """TweakReg (twice) on the visit DRZs and tweakback into their FLTs."""
        if "alignment" not in self._results:
            exposures = self.exposures()
            reference = self.reference_catalog()
            key = {
                "exposures": self._entries["exposures"].content_digest,
                "catalog": self._entries["catalog"].content_digest,
                "tweakreg": dataclasses.asdict(self.field.tweakreg),
                "code": cache.source_digest(align, drizzle),
            }

            def build(workdir: Path) -> dict:
                return align.align_visits(
                    exposures.flt_paths,
                    exposures.visit_drz_paths,
                    reference.table,
                    self.field.tweakreg,
                    workdir,
                ).to_record()

            entry = self._stage("alignment", "aligning visits to the reference catalog", key, build)
            self._results["alignment"] = AlignmentResult.from_record(entry.directory, entry.record)
        return self._results["alignment"]

    def mosaic(self, skymethod: str) -> Mosaic:
        """The final mosaic of all aligned FLTs with one sky method."""
        stage = f"mosaic-{drizzle.method_directory_name(skymethod)}"
        if stage not in self._results:
            aligned = self.alignment()
            parameters = dataclasses.asdict(self.field.astrodrizzle)
            parameters.pop("skymethods")
            key = {
                "alignment": self._entries["alignment"].content_digest,
                "astrodrizzle": parameters,
                "skymethod": skymethod,
                "code": cache.source_digest(drizzle),
            }

            def build(workdir: Path) -> dict:
                return drizzle.drizzle_mosaic(
                    self._inputs(stage, aligned.aligned_flt_paths, workdir),
                    skymethod,
                    self.field.astrodrizzle,
                    workdir,
                ).to_record()

            entry = self._stage(stage, f"drizzling the {skymethod} mosaic", key, build)
            self._results[stage] = Mosaic.from_record(entry.directory, entry.record)
        return self._results[stage]

    def overlaps(self) -> pd.DataFrame:
        """Sky differences of every overlapping pair of aligned FLTs (`skyqa.measure`)."""
        if "overlaps" not in self._results:
            aligned = self.alignment()
            key = {
                "alignment": self._entries["alignment"].content_digest,
                "final_bits": self.field.astrodrizzle.final_bits,
                "min_pixels": self.field.thresholds.min_overlap_pixels,
                "code": cache.source_digest(measure),
            }

            def build(workdir: Path) -> dict:
                pairs = measure.measure_overlaps(
                    self._inputs("overlaps", aligned.aligned_flt_paths, workdir),
                    self.field.astrodrizzle.final_bits,
                    self.field.thresholds.min_overlap_pixels,
                )
                pairs.to_csv(workdir / "pairs.csv", index=False)
                return {"pairs": "pairs.csv"}

            entry = self._stage("overlaps", "measuring overlaps between exposures", key, build)
            self._results["overlaps"] = pd.read_csv(
                entry.directory / entry.record["pairs"],
                dtype={"exposure_a": str, "exposure_b": str},
            )
        return self._results["overlaps"]

    def mosaics(self) -> dict[str, Mosaic]:
        """One mosaic per sky method of the field, in the spec's order."""
        return {method: self.mosaic(method) for method in self.field.astrodrizzle.skymethods}
