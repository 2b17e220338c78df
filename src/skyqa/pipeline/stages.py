"""The pipeline's stages, each written once: its name, what it is built from, the part
of the field spec and the code that key its cache entry, how it is built and loaded.

A stage's build is a module-level function (picklable, so a worker process can run it)
called as ``build(field, fault, *inputs, workdir)``; ``inputs(run)`` takes what it needs
from the `~skyqa.pipeline.Pipeline` that runs it. Its cache key is the content of the
entries of ``needs``, ``spec(field)``, the code its build runs (`Stage.code_digest`), the
key package versions and any injected fault (`skyqa.pipeline.Pipeline`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skyqa.builds import (
    _build_alignment,
    _build_catalog,
    _build_columns,
    _build_emission,
    _build_exposures,
    _build_mosaic,
    _build_overlap_part,
    _build_overlaps,
    _build_placement,
    _build_product,
    _build_product_inputs,
    _build_residuals,
    _build_skies,
    _build_sources,
    _describe_mosaic,
    _exposures_spec,
    _load_alignment,
    _load_catalog,
    _load_exposures,
    _load_mosaic,
    _load_placement,
    _load_product,
    _load_product_inputs,
    _load_residuals,
    _residual_inputs,
    _table,
)
from skyqa.cache import CacheEntry
from skyqa.closure import code_digest
from skyqa.overlaps import overlap_parts
from skyqa.results import (
    ALIGNMENT,
    CATALOG,
    COLUMNS,
    EMISSION,
    EXPOSURES,
    MOSAICS,
    OVERLAP_PART_PREFIX,
    OVERLAPS,
    PLACEMENT,
    PRODUCT_INPUTS,
    PRODUCTS,
    RESIDUALS,
    SKIES,
    SKY_METHODS,
    SOURCES,
    mosaic_stage_name,
    product_stage_name,
)

if TYPE_CHECKING:
    from skyqa.field import FieldSpec
    from skyqa.pipeline.facade import Pipeline


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

    def code(self) -> tuple[Callable, ...]:
        """The functions whose code keys this stage: its build and its description."""
        return tuple(f for f in (self.build, self.describe) if f is not None)

    def code_digest(self) -> str:
        """The digest of the code this stage runs: its build's and its description's,
        with every skyqa module they import, directly or not (`skyqa.closure`)."""
        return code_digest(*self.code())


def _aligned_flts(run: Pipeline) -> tuple:
    return (run.alignment().aligned_flt_paths,)


def _after_alignment(run: Pipeline) -> tuple[str, ...]:
    return (ALIGNMENT,)


def _overlap_spec(field) -> dict:
    return {**_final_bits(field), "min_pixels": field.thresholds.min_overlap_pixels}


_pairs_table = _table({"exposure_a": str, "exposure_b": str}, "pairs")


def _overlap_inputs(run: Pipeline) -> tuple:
    """The overlap stage's inputs: the aligned FLTs, or its parts' tables."""
    parts = overlap_part_stages(run)
    if not parts:
        return (run.alignment().aligned_flt_paths, ())
    return ((), tuple(run.result_of(stage) for stage in parts))


# --- the table ----------------------------------------------------------------------


def _final_bits(field) -> dict:
    return {"final_bits": field.astrodrizzle.final_bits}


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage(
            EXPOSURES,
            "acquiring exposures",
            build=_build_exposures,
            load=_load_exposures,
            inputs=lambda run: (run.progress, run.download_dir, run.workers),
            spec=_exposures_spec,
        ),
        Stage(
            CATALOG,
            "reference catalog",
            build=_build_catalog,
            load=_load_catalog,
            inputs=lambda run: (run.exposures(), run.download_dir),
            needs=lambda run: (EXPOSURES,),
            spec=lambda field: {"catalog": dataclasses.asdict(field.catalog)},
        ),
        Stage(
            ALIGNMENT,
            "aligning visits to the reference catalog",
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
            EMISSION,
            "measuring the extended emission in each exposure",
            build=_build_emission,
            load=_table({"rootname": str}),
            inputs=lambda run: (run.exposures().flt_paths,),
            needs=lambda run: (EXPOSURES,),
            spec=_final_bits,
            cost=0.3,
        ),
        Stage(
            RESIDUALS,
            "verifying the alignment (a new fit)",
            build=_build_residuals,
            load=_load_residuals,
            inputs=_residual_inputs,
            needs=_after_alignment,
            spec=lambda field: {"tweakreg": dataclasses.asdict(field.tweakreg)},
            batch=True,
            fixture="alignment_residuals",
            cost=1.0,
            drizzlepac=True,
        ),
        Stage(
            PLACEMENT,
            "measuring the aligned WCSs on the sky",
            build=_build_placement,
            load=_load_placement,
            inputs=lambda run: (run.alignment(), run.exposures().truth_path),
            needs=lambda run: (ALIGNMENT, EXPOSURES),
            spec=lambda field: {"fitgeometry": field.tweakreg.fitgeometry},
            batch=True,
            fixture="alignment_placement",
            cost=0.5,
        ),
        Stage(
            SOURCES,
            "finding stars in the aligned FLTs (photutils) against the catalog",
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
            build=_build_overlaps,
            load=_pairs_table,
            inputs=_overlap_inputs,
            needs=lambda run: (
                tuple(stage.name for stage in overlap_part_stages(run)) or (ALIGNMENT,)
            ),
            spec=_overlap_spec,
            batch=True,
            fixture="overlap_pairs",
            cost=4.0,
        ),
        Stage(
            SKIES,
            "comparing the mosaics' pixels with their recorded skies",
            build=_build_skies,
            load=_table({"region": str, "weights": str}),
            inputs=lambda run: (run.mosaics(), run.alignment().aligned_flt_paths),
            needs=lambda run: tuple(
                mosaic_stage_name(method) for method in run.field.astrodrizzle.skymethods
            ),
            spec=lambda field: {"min_pixels": field.thresholds.min_overlap_pixels},
            batch=True,
            fixture="mosaic_skies",
            cost=3.0,
        ),
        Stage(
            PRODUCT_INPUTS,
            "measuring the isolated catalog stars in every exposure, for the products",
            build=_build_product_inputs,
            load=_load_product_inputs,
            inputs=lambda run: (run.alignment().aligned_flt_paths, run.reference_catalog().path),
            needs=lambda run: (ALIGNMENT, CATALOG),
            spec=_final_bits,
            batch=True,
            cost=2.5,
        ),
    )
}
"""Every stage but the per-method mosaics (`mosaic_stage`) and the overlap parts
(`overlap_part_stage`), in the order the pipeline runs them. Others (the report's figures,
`skyqa.report.stages`) are the caller's: `skyqa.pipeline.Pipeline.also`."""


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
        build=functools.partial(_build_mosaic, stage=name, skymethod=skymethod),
        load=_load_mosaic,
        inputs=_aligned_flts,
        needs=_after_alignment,
        spec=spec,
        describe=_describe_mosaic,
        batch=True,
        fixture="mosaics",
        cost=SKY_METHODS[skymethod].cost,
        drizzlepac=True,
    )


def product_stage(skymethod: str) -> Stage:
    """The stage measuring one sky method's mosaic as a product, against the field's
    `PRODUCT_INPUTS`: built as soon as its mosaic is, beside the others' drizzling."""
    return Stage(
        product_stage_name(skymethod),
        f"measuring the {skymethod} mosaic as a product",
        build=functools.partial(_build_product, skymethod=skymethod),
        load=_load_product,
        inputs=lambda run: (
            run.mosaic(skymethod),
            run.result_of(STAGES[PRODUCT_INPUTS]),
            run.reference_catalog().path,
            run.exposures().truth_path,
        ),
        needs=lambda run: (
            EXPOSURES,
            CATALOG,
            PRODUCT_INPUTS,
            mosaic_stage_name(skymethod),
        ),
        batch=True,
        fixture="product_measures",
        cost=2.0,
    )


BATCH_RESULTS = frozenset(
    {MOSAICS, PRODUCTS, *(name for name, stage in STAGES.items() if stage.batch)}
)
"""The results one batch builds together (`skyqa.pipeline.Pipeline.wanted`)."""


def batch_fixtures() -> dict[str, str]:
    """The plugin fixture of each result the batch builds: fixture -> result name."""
    fixtures = {
        stage.fixture: name for name, stage in STAGES.items() if stage.batch and stage.fixture
    }
    return {**fixtures, "mosaics": MOSAICS, "product_measures": PRODUCTS}


def overlap_part_stage(part: int, parts: int) -> Stage:
    """The stage measuring part ``part`` (from 0) of ``parts`` of the field's overlaps
    (`skyqa.overlaps.measure_overlaps`); the overlaps stage joins them."""

    def spec(field) -> dict:
        return {**_overlap_spec(field), "part": part, "parts": parts}

    return Stage(
        f"{OVERLAP_PART_PREFIX}{part + 1}of{parts}",
        f"measuring overlaps between exposures, part {part + 1} of {parts}",
        build=functools.partial(_build_overlap_part, part=part, parts=parts),
        load=_pairs_table,
        inputs=_aligned_flts,
        needs=_after_alignment,
        spec=spec,
        batch=True,
        cost=4.0 / parts,
    )


def overlap_part_stages(run: Pipeline) -> list[Stage]:
    """The parts the field's overlap measurement is split into (`skyqa.overlaps
    .overlap_parts`); none when it is one job, or while a fault targets the overlaps (a
    fault's inputs and outputs are those of the whole measurement)."""
    parts = overlap_parts(len(run.alignment().aligned_flt_paths))
    if parts == 1 or (run.fault is not None and run.fault.stage == OVERLAPS):
        return []
    return [overlap_part_stage(part, parts) for part in range(parts)]
