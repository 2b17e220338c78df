"""How each stage is built and loaded: module-level functions, so that a worker process
can run a build (`skyqa.pipeline.stages` says which stage uses which).

A stage's cache key holds the code its build runs (`skyqa.closure.code_digest`): this
module, the imports in the build's body and all they import. So each build imports, in
its own body, the stage modules it calls, and this module imports at its top only what
every build may run (the cache's types and the result names)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from skyqa.cache import CacheEntry, file_digest
from skyqa.results import ALIGNMENT, OVERLAPS

if TYPE_CHECKING:
    from skyqa.faults import Fault


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
    return align_visits(
        flts, drzs, reference.table, field.tweakreg, workdir, field.detector_model
    ).to_record()


def _load_alignment(entry: CacheEntry):
    from skyqa.align import AlignmentResult

    return AlignmentResult.from_record(entry.directory, entry.record)


def _build_columns(field, fault, flt_paths, workdir: Path) -> dict:
    from skyqa.columns import column_outliers

    column_outliers(flt_paths, field.astrodrizzle.final_bits).to_csv(
        workdir / "columns.csv", index=False
    )
    return {"table": "columns.csv"}


def _build_emission(field, fault, flt_paths, workdir: Path) -> dict:
    from skyqa.emission import emission_table
    from skyqa.measure import parse_bits

    emission_table(flt_paths, parse_bits(field.astrodrizzle.final_bits)).to_csv(
        workdir / "emission.csv", index=False
    )
    return {"table": "emission.csv"}


def _table(dtypes: dict, name: str = "table") -> Callable[[CacheEntry], pd.DataFrame]:
    """A loader of the CSV table a stage's record names under ``name``."""
    return functools.partial(_read_table, dtypes, name)


def _read_table(dtypes: dict, name: str, entry: CacheEntry) -> pd.DataFrame:
    return pd.read_csv(entry.directory / entry.record[name], dtype=dtypes)


def _build_residuals(field, fault, drz_paths, catalog_path, workdir: Path) -> dict:
    from skyqa.align import RESIDUAL_SHIFT_FILE, verify_alignment

    verify_alignment(drz_paths, catalog_path, field.tweakreg, workdir, field.detector_model)
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
    return measure_alignment(alignment, truth, field.tweakreg.fitgeometry).to_record(workdir)


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


def _build_overlaps(field, fault, flt_paths, part_tables, workdir: Path) -> dict:
    """The overlap table: measured here from ``flt_paths``, or joined from the tables of
    its parts (`_build_overlap_part`) when the field's measurement is split."""
    from skyqa.overlaps import join_parts, measure_overlaps

    if part_tables:
        pairs = join_parts(part_tables)
    else:
        pairs = measure_overlaps(
            _fault_inputs(fault, field, OVERLAPS, flt_paths, workdir),
            field.astrodrizzle.final_bits,
            field.thresholds.min_overlap_pixels,
            chips=field.detector_model.n_chips,
        )
    pairs.to_csv(workdir / "pairs.csv", index=False)
    return {"pairs": "pairs.csv"}


def _build_overlap_part(field, fault, flt_paths, workdir: Path, *, part: int, parts: int) -> dict:
    """One part of a split overlap measurement (a field is not split while a fault
    targets its overlaps: `skyqa.pipeline.stages.overlap_part_stages`)."""
    from skyqa.overlaps import measure_overlaps

    pairs = measure_overlaps(
        flt_paths,
        field.astrodrizzle.final_bits,
        field.thresholds.min_overlap_pixels,
        part=part,
        parts=parts,
        chips=field.detector_model.n_chips,
    )
    pairs.to_csv(workdir / "pairs.csv", index=False)
    return {"pairs": "pairs.csv"}


def _build_mosaic(field, fault, flt_paths, workdir: Path, *, stage: str, skymethod: str) -> dict:
    from skyqa.drizzle import drizzle_mosaic

    paths = _fault_inputs(fault, field, stage, flt_paths, workdir)
    return drizzle_mosaic(
        paths, skymethod, field.astrodrizzle, workdir, field.detector_model
    ).to_record()


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


def _build_product_inputs(field, fault, flt_paths, catalog_path, workdir: Path) -> dict:
    from astropy.table import Table

    from skyqa.measure import parse_bits
    from skyqa.products import field_inputs

    catalog = Table.read(catalog_path, format="ascii.ecsv")
    bits = parse_bits(field.astrodrizzle.final_bits)
    return field_inputs(flt_paths, (catalog["ra"], catalog["dec"]), bits).to_record(workdir)


def _load_product_inputs(entry: CacheEntry):
    from skyqa.products import FieldInputs

    return FieldInputs.from_record(entry.directory, entry.record)


def _build_product(
    field, fault, mosaic, inputs, catalog_path, truth_path, workdir: Path, *, skymethod: str
) -> dict:
    from astropy.table import Table

    from skyqa.products import measure_product
    from skyqa.simulate import load_truth

    catalog = Table.read(catalog_path, format="ascii.ecsv")
    row, stars = measure_product(
        mosaic.sci_path,
        mosaic.wht_path,
        inputs,
        (catalog["ra"], catalog["dec"]),
        None if truth_path is None else load_truth(truth_path).stars,
    )
    pd.DataFrame([{"method": skymethod, **row}]).to_csv(workdir / "product.csv", index=False)
    stars.assign(method=skymethod).to_csv(workdir / "product_stars.csv", index=False)
    return {"table": "product.csv", "stars": "product_stars.csv"}


def _load_product(entry: CacheEntry):
    from skyqa.products import PHOTOMETRIC_KEYWORDS, ProductMeasures

    text = {"method": str, **{key: str for key in PHOTOMETRIC_KEYWORDS}}
    text.update({f"inputs_{key}": str for key in PHOTOMETRIC_KEYWORDS})
    table = pd.read_csv(entry.directory / entry.record["table"], dtype=text)
    stars = pd.read_csv(
        entry.directory / entry.record["stars"], dtype=dict.fromkeys(("method", "rootname"), str)
    )
    return ProductMeasures(table.fillna({name: "" for name in text if name in table}), stars)
