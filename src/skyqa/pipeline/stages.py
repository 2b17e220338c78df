"""The pipeline's stages, each written once: its name, what it is built from, the part
of the field spec and the code that key its cache entry, how it is built and loaded.

A stage's build is a module-level function (picklable, so a worker process can run it)
called as ``build(field, fault, *inputs, workdir)``; ``inputs(run)`` takes what it needs
from the `~skyqa.pipeline.Pipeline` that runs it. Its cache key is the content of the
entries of ``needs``, ``spec(field)``, the source of the ``code`` modules, the key
package versions and any injected fault (`skyqa.pipeline.Pipeline`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from skyqa.cache import CacheEntry, file_digest, source_digest

if TYPE_CHECKING:
    from skyqa.faults import Fault
    from skyqa.field import FieldSpec
    from skyqa.pipeline.facade import Pipeline

EXPOSURES = "exposures"
CATALOG = "catalog"
ALIGNMENT = "alignment"
COLUMNS = "columns"
RESIDUALS = "residuals"
PLACEMENT = "placement"
SOURCES = "sources"
OVERLAPS = "overlaps"
MOSAICS = "mosaics"
"""The result of the mosaic stages, one per sky method (`mosaic_stage_name`)."""
SKIES = "skies"
FIGURES = "figures"
"""The report's figure groups, one stage each (`figures_stage_name`)."""


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline (see the module's docstring).

    ``batch``: built with the others of the batch after the alignment, in worker
    processes (`skyqa.pipeline.scheduler`); ``fixture``: the plugin fixture that returns
    its result (the batch builds only what the collected checks use); ``cost``: its
    expected build time (s, horsehead-sim on two cores) before the cache has built it.
    """

    name: str
    label: str
    code: tuple[str, ...]
    build: Callable[..., dict]
    load: Callable[[CacheEntry], Any]
    inputs: Callable[[Pipeline], tuple] = lambda run: ()
    needs: Callable[[Pipeline], tuple[str, ...]] = lambda run: ()
    spec: Callable[[FieldSpec], dict] = lambda field: {}
    describe: Callable[[Path, dict], dict] | None = None
    batch: bool = False
    fixture: str | None = None
    cost: float = 4.0
    drizzlepac: bool = False

    def code_digest(self) -> str:
        """The source digest of the modules whose code keys this stage."""
        return source_digest(*(importlib.import_module(f"skyqa.{name}") for name in self.code))


# --- builds and loads: module-level functions, picklable -------------------------------


def _fault_inputs(fault: Fault | None, field, stage: str, paths, workdir: Path) -> list[Path]:
    if fault is not None and fault.stage == stage:
        return fault.inputs(field, paths, workdir)
    return list(paths)


def _build_exposures(field, fault, progress, download_dir, workers, workdir: Path) -> dict:
    from skyqa.acquire import acquire_exposures

    return acquire_exposures(field, workdir, progress, download_dir, workers).to_record()


def _load_exposures(entry: CacheEntry):
    from skyqa.acquire import ExposureSet

    return ExposureSet.from_record(entry.directory, entry.record)


def _exposures_spec(field) -> dict:
    from skyqa.acquire import local_inputs

    section = getattr(field, field.kind)
    local = local_inputs(field) if field.kind == "local" else []
    return {
        "kind": field.kind,
        "target": dataclasses.asdict(field.target),
        "data": dataclasses.asdict(section),
        # A user's own files: their content keys the result, not their path.
        "local_files": {path.name: file_digest(path) for path in local},
    }


def _build_catalog(field, fault, exposures, download_dir, workdir: Path) -> dict:
    from skyqa.catalog import build_reference_catalog

    built = build_reference_catalog(field, exposures, workdir, download_dir)
    return {"source": built.source, "path": built.path.name}


def _load_catalog(entry: CacheEntry):
    from skyqa.catalog import ReferenceCatalog

    return ReferenceCatalog(entry.record["source"], entry.directory / entry.record["path"])


def _build_alignment(field, fault, exposures, reference, workdir: Path) -> dict:
    from skyqa.align import align_visits

    paths = [*exposures.flt_paths, *exposures.visit_drz_paths]
    paths = _fault_inputs(fault, field, ALIGNMENT, paths, workdir)
    flts, drzs = paths[: len(exposures.flt_paths)], paths[len(exposures.flt_paths) :]
    return align_visits(flts, drzs, reference.table, field.tweakreg, workdir).to_record()


def _load_alignment(entry: CacheEntry):
    from skyqa.align import AlignmentResult

    return AlignmentResult.from_record(entry.directory, entry.record)


def _build_columns(field, fault, flt_paths, workdir: Path) -> dict:
    from skyqa.measure import column_outliers

    column_outliers(flt_paths, field.astrodrizzle.final_bits).to_csv(
        workdir / "columns.csv", index=False
    )
    return {"table": "columns.csv"}


def _table(dtypes: dict, name: str = "table") -> Callable[[CacheEntry], pd.DataFrame]:
    """A loader of the CSV table a stage's record names under ``name``."""
    return functools.partial(_read_table, dtypes, name)


def _read_table(dtypes: dict, name: str, entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(entry.directory / entry.record[name], dtype=dtypes)


def _build_residuals(field, fault, drz_paths, catalog_path, workdir: Path) -> dict:
    from skyqa.align import RESIDUAL_SHIFT_FILE, verify_alignment

    verify_alignment(drz_paths, catalog_path, field.tweakreg, workdir)
    return {"shift_file": RESIDUAL_SHIFT_FILE}


def _residual_inputs(run) -> tuple:
    from skyqa.align import CATALOG_FILE

    aligned = run.alignment()
    return (aligned.visit_drz_paths, aligned.directory / CATALOG_FILE)


def _load_residuals(entry: CacheEntry) -> pd.DataFrame:
    from skyqa.align import parse_shift_file

    return parse_shift_file(entry.directory / entry.record["shift_file"])


def _build_placement(field, fault, alignment, truth_path, workdir: Path) -> dict:
    from skyqa.astrometry import measure_alignment
    from skyqa.simulate import load_truth

    truth = None if truth_path is None else load_truth(truth_path)
    return measure_alignment(alignment, truth).to_record(workdir)


def _load_placement(entry: CacheEntry):
    from skyqa.astrometry import AlignmentPlacement

    return AlignmentPlacement.from_record(entry.directory, entry.record)


def _build_sources(field, fault, flt_paths, catalog_path, workdir: Path) -> dict:
    from astropy.table import Table

    from skyqa.measure import parse_bits
    from skyqa.sources import source_offsets

    table = Table.read(catalog_path, format="ascii.ecsv")
    bits = parse_bits(field.astrodrizzle.final_bits)
    source_offsets(flt_paths, table["ra"], table["dec"], bits).to_csv(
        workdir / "source_offsets.csv", index=False
    )
    return {"table": "source_offsets.csv"}


def _build_overlaps(field, fault, flt_paths, workdir: Path) -> dict:
    from skyqa.measure import measure_overlaps

    pairs = measure_overlaps(
        _fault_inputs(fault, field, OVERLAPS, flt_paths, workdir),
        field.astrodrizzle.final_bits,
        field.thresholds.min_overlap_pixels,
    )
    pairs.to_csv(workdir / "pairs.csv", index=False)
    return {"pairs": "pairs.csv"}


def _build_mosaic(field, fault, flt_paths, workdir: Path, *, stage: str, skymethod: str) -> dict:
    from skyqa.drizzle import drizzle_mosaic

    paths = _fault_inputs(fault, field, stage, flt_paths, workdir)
    return drizzle_mosaic(paths, skymethod, field.astrodrizzle, workdir).to_record()


def _load_mosaic(entry: CacheEntry):
    from skyqa.drizzle import Mosaic

    return Mosaic.from_record(entry.directory, entry.record)


def _describe_mosaic(workdir: Path, record: dict) -> dict:
    from skyqa.drizzle import describe_mosaic

    return describe_mosaic(workdir, record)


def _build_skies(field, fault, mosaics: dict, flt_paths, workdir: Path) -> dict:
    from skyqa.pixels import sky_regions

    table = sky_regions(
        {method: (mosaic.sci_path, mosaic.wht_path) for method, mosaic in mosaics.items()},
        {method: mosaic.mdrizsky for method, mosaic in mosaics.items()},
        flt_paths,
        field.thresholds.min_overlap_pixels,
    )
    table.to_csv(workdir / "sky_regions.csv", index=False)
    return {"table": "sky_regions.csv"}


def _build_figures(field, fault, results: dict, workdir: Path, *, group: str, workers: int) -> dict:
    from skyqa.report import draw_group

    drawn = draw_group(group, results, workdir, workers)
    return {"figures": [path.name for path in drawn]}


def _load_figures(entry: CacheEntry) -> list[Path]:
    return [entry.directory / name for name in entry.record["figures"]]


# --- the table ----------------------------------------------------------------------


def _final_bits(field) -> dict:
    return {"final_bits": field.astrodrizzle.final_bits}


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            EXPOSURES,
            "acquiring exposures",
            code=(
                "simulate",
                "wfc3ir",
                "drizzle",
                "sandbox",
                "headers",
                "acquire",
                "mast",
                "download",
            ),
            build=_build_exposures,
            load=_load_exposures,
            inputs=lambda run: (run.progress, run.download_dir, run.workers),
            spec=_exposures_spec,
        ),
        Stage(
            CATALOG,
            "reference catalog",
            code=("catalog", "sandbox"),
            build=_build_catalog,
            load=_load_catalog,
            inputs=lambda run: (run.exposures(), run.download_dir),
            needs=lambda run: (EXPOSURES,),
            spec=lambda field: {"catalog": dataclasses.asdict(field.catalog)},
        ),
        Stage(
            ALIGNMENT,
            "aligning visits to the reference catalog",
            code=("align", "sandbox", "headers"),
            build=_build_alignment,
            load=_load_alignment,
            inputs=lambda run: (run.exposures(), run.reference_catalog()),
            needs=lambda run: (EXPOSURES, CATALOG),
            spec=lambda field: {"tweakreg": dataclasses.asdict(field.tweakreg)},
            drizzlepac=True,
        ),
        Stage(
            COLUMNS,
            "measuring detector columns",
            code=("measure", "headers"),
            build=_build_columns,
            load=_table({"rootname": str}),
            inputs=lambda run: (run.exposures().flt_paths,),
            needs=lambda run: (EXPOSURES,),
            spec=_final_bits,
            batch=True,
            fixture="column_outliers",
            cost=0.4,
        ),
        Stage(
            RESIDUALS,
            "verifying the alignment (a new fit)",
            code=("align", "sandbox"),
            build=_build_residuals,
            load=_load_residuals,
            inputs=_residual_inputs,
            needs=lambda run: (ALIGNMENT,),
            spec=lambda field: {"tweakreg": dataclasses.asdict(field.tweakreg)},
            batch=True,
            fixture="alignment_residuals",
            cost=1.0,
            drizzlepac=True,
        ),
        Stage(
            PLACEMENT,
            "measuring the aligned WCSs on the sky",
            code=("astrometry", "align", "simulate"),
            build=_build_placement,
            load=_load_placement,
            inputs=lambda run: (run.alignment(), run.exposures().truth_path),
            needs=lambda run: (ALIGNMENT, EXPOSURES),
            batch=True,
            fixture="alignment_placement",
            cost=0.5,
        ),
        Stage(
            SOURCES,
            "finding stars in the aligned FLTs (photutils) against the catalog",
            code=("sources", "pixels", "astrometry", "headers"),
            build=_build_sources,
            load=_table({"visit": str, "rootname": str}),
            inputs=lambda run: (run.alignment().aligned_flt_paths, run.reference_catalog().path),
            needs=lambda run: (ALIGNMENT, CATALOG),
            spec=_final_bits,
            batch=True,
            fixture="source_offsets",
            cost=6.0,
        ),
        Stage(
            OVERLAPS,
            "measuring overlaps between exposures",
            code=("measure", "headers"),
            build=_build_overlaps,
            load=_table({"exposure_a": str, "exposure_b": str}, "pairs"),
            inputs=lambda run: (run.alignment().aligned_flt_paths,),
            needs=lambda run: (ALIGNMENT,),
            spec=lambda field: {
                **_final_bits(field),
                "min_pixels": field.thresholds.min_overlap_pixels,
            },
            batch=True,
            fixture="overlap_pairs",
            cost=4.0,
        ),
        Stage(
            SKIES,
            "comparing the mosaics' pixels with their recorded skies",
            code=("pixels", "headers"),
            build=_build_skies,
            load=_table({"region": str}),
            inputs=lambda run: (run.mosaics(), run.alignment().aligned_flt_paths),
            needs=lambda run: tuple(
                mosaic_stage_name(method) for method in run.field.astrodrizzle.skymethods
            ),
            spec=lambda field: {"min_pixels": field.thresholds.min_overlap_pixels},
            batch=True,
            fixture="mosaic_skies",
            cost=3.0,
        ),
    )
}
"""Every stage but the per-method mosaics (`mosaic_stage`) and the figure groups
(`figures_stage`), in the order the pipeline runs them."""

MOSAIC_PREFIX = f"{MOSAICS[:-1]}-"


def mosaic_stage_name(skymethod: str) -> str:
    """The stage (and cache folder) name of the mosaic of one sky method."""
    from skyqa.drizzle import method_directory_name

    return f"{MOSAIC_PREFIX}{method_directory_name(skymethod)}"


def mosaic_stage(skymethod: str) -> Stage:
    """The stage of the final mosaic of all aligned FLTs with one sky method."""

    def spec(field) -> dict:
        parameters = dataclasses.asdict(field.astrodrizzle)
        parameters.pop("skymethods")
        return {"astrodrizzle": parameters, "skymethod": skymethod}

    name = mosaic_stage_name(skymethod)
    return Stage(
        name,
        f"drizzling the {skymethod} mosaic",
        code=("drizzle", "sandbox", "headers"),
        build=functools.partial(_build_mosaic, stage=name, skymethod=skymethod),
        load=_load_mosaic,
        inputs=lambda run: (run.alignment().aligned_flt_paths,),
        needs=lambda run: (ALIGNMENT,),
        spec=spec,
        describe=_describe_mosaic,
        batch=True,
        fixture="mosaics",
        cost=11.0 if "match" in skymethod else 7.0,
        drizzlepac=True,
    )


def figures_stage_name(group: str) -> str:
    """The stage (and cache folder) name of one group of the report's figures."""
    return f"{FIGURES}-{group}"


def figures_stage(group: str, workers: int) -> Stage:
    """The stage drawing one group of the report's figures (`skyqa.report.FIGURE_GROUPS`)
    from the results it shows, in ``workers`` processes."""
    from importlib.metadata import version

    def needs(run) -> tuple[str, ...]:
        return figure_inputs(group, run.field.astrodrizzle.skymethods)

    return Stage(
        figures_stage_name(group),
        f"drawing the {group} figures",
        code=("report", "drizzle", "measure"),
        build=functools.partial(_build_figures, group=group, workers=workers),
        load=_load_figures,
        inputs=lambda run: (run.shown(group),),
        needs=needs,
        spec=lambda field: {"matplotlib": version("matplotlib")},
        cost={"mosaics": 1.5, "alignment": 1.2}.get(group, 0.7),
    )


def figure_inputs(group: str, skymethods: tuple[str, ...]) -> tuple[str, ...]:
    """The stages whose results a figure group shows."""
    from skyqa.report import FIGURE_GROUPS

    stages: list[str] = []
    for name in FIGURE_GROUPS[group]:
        if name == MOSAICS:
            stages += [mosaic_stage_name(method) for method in skymethods]
        else:
            stages.append(name)
    return tuple(stages)


BATCH_RESULTS = frozenset({MOSAICS, *(name for name, stage in STAGES.items() if stage.batch)})
"""The results one batch builds together (`skyqa.pipeline.Pipeline.wanted`)."""


def batch_fixtures() -> dict[str, str]:
    """The plugin fixture of each result the batch builds: fixture -> result name."""
    fixtures = {
        stage.fixture: name for name, stage in STAGES.items() if stage.batch and stage.fixture
    }
    return {**fixtures, "mosaics": MOSAICS}
