"""A run's metrics in one shape, shared by the baselines, the summary and the comparison.

The shape is three tables (pandas DataFrames), each with its key columns:

- ``alignment``: per visit (``visit``), the fitted shift (pix), signed rotation (deg),
  scale, fit RMS (``xrms_pix``, ``yrms_pix``) and number of matched sources;
- ``mdrizsky``: per exposure (``rootname``), MDRIZSKY (e-/s), one column per sky method;
- ``seams``: per overlapping pair (``exposure_a``, ``exposure_b``), the raw sky
  difference (e-/s), its uncertainty, the pixel noise and each method's seam (x noise).

The stored baselines are these tables as CSV (`skyqa.baseline`); a summary's ``metrics``
is `summary_metrics` of them (with each method's seam score); ``skyqa compare`` names
each value with `named_values`, for the summaries and the stored baselines alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from skyqa.align import AlignmentResult, signed_rotation
from skyqa.drizzle import Mosaic, mdrizsky_by_method
from skyqa.names import visit_of
from skyqa.oracle import seam_score
from skyqa.planes import PLANE_COLUMNS
from skyqa.steps import STEP_COLUMNS
from skyqa.verdict import finite_or_none

if TYPE_CHECKING:
    from skyqa.pipeline.computed import Computed

TABLES = ("alignment", "mdrizsky", "seams")
KEY_COLUMNS = {
    "alignment": ["visit"],
    "mdrizsky": ["rootname"],
    "seams": ["exposure_a", "exposure_b"],
}
CHIP_KEYS = ["chip_a", "chip_b"]
"""The two-chip CCDs' seams table adds these keys: a pair of exposures has a row per pair
of overlapping chips."""


def key_columns(name: str, table: pd.DataFrame) -> list[str]:
    """The columns that name a row of metric table ``name`` (`KEY_COLUMNS`, and the
    chips of a two-chip seams table)."""
    chips = [column for column in CHIP_KEYS if name == "seams" and column in table]
    return [*KEY_COLUMNS[name], *chips]


def alignment_metrics(alignment: AlignmentResult) -> pd.DataFrame:
    """Per visit: the fitted shift (pix), signed rotation (deg), scale, fit RMS, matches."""
    shifts = alignment.shift_table.set_index("image")
    fits_ = alignment.fit_table.set_index("image")
    table = pd.DataFrame(
        {
            "visit": [visit_of(name) for name in shifts.index],
            "xsh_pix": shifts["xsh_pix"].to_numpy(),
            "ysh_pix": shifts["ysh_pix"].to_numpy(),
            "rot_deg": signed_rotation(shifts["rot_deg"]).to_numpy(),
            "scale": shifts["scale"].to_numpy(),
            "xrms_pix": shifts["xrms_pix"].to_numpy(),
            "yrms_pix": shifts["yrms_pix"].to_numpy(),
            "n_matches": fits_.reindex(shifts.index)["n_matches"].fillna(0).astype(int).to_numpy(),
        }
    )
    return table.sort_values("visit").reset_index(drop=True)


def mdrizsky_metrics(mosaics: Mapping[str, Mosaic]) -> pd.DataFrame:
    """MDRIZSKY (e-/s) per exposure and method, sorted by rootname."""
    return mdrizsky_by_method(mosaics).sort_values("rootname").reset_index(drop=True)


def seam_metrics(seams: pd.DataFrame) -> pd.DataFrame:
    """Per pair: raw difference, its uncertainty, pixel noise and each method's seam (not
    its pixel count, which is geometry, nor its half-line steps, which `test_seam_free`
    judges against the seam threshold itself)."""

    table = seams.drop(columns=["n_pixels", *STEP_COLUMNS, *PLANE_COLUMNS], errors="ignore")
    return table.sort_values(key_columns("seams", table)).reset_index(drop=True)


def run_tables(results: Computed) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The metric tables of whatever stages a run built, and each method's seam score.

    ``results``: `skyqa.pipeline.Pipeline.computed`.
    """

    tables: dict[str, pd.DataFrame] = {}
    scores: dict[str, float] = {}
    if results.alignment is not None:
        tables["alignment"] = alignment_metrics(results.alignment)
    if results.mosaics:
        tables["mdrizsky"] = mdrizsky_metrics(results.mosaics)
        if results.seams is not None:
            tables["seams"] = seam_metrics(results.seams)
            scores = {method: seam_score(results.seams, method) for method in results.mosaics}
    return tables, scores


def read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    """The metric tables stored in a folder (a field's baselines), those that are there."""
    return {
        name: pd.read_csv(folder / f"{name}.csv", index_col=0)
        for name in TABLES
        if (folder / f"{name}.csv").is_file()
    }


def summary_metrics(
    tables: Mapping[str, pd.DataFrame], seam_scores: Mapping[str, float] | None = None
) -> dict:
    """The summary's ``metrics`` (schema version 2, `skyqa.summary`) from the tables:
    ``mdrizsky_e_s`` {method: {rootname: e-/s}}, ``seam_score`` {method: score},
    ``fit_rms_pix`` {visit: {"xrms", "yrms"}}; a non-finite value is null."""
    metrics: dict = {}
    if "mdrizsky" in tables:
        table = tables["mdrizsky"].set_index("rootname")
        metrics["mdrizsky_e_s"] = {
            str(method): {str(name): finite_or_none(value) for name, value in table[method].items()}
            for method in table.columns
        }
    if seam_scores:
        metrics["seam_score"] = {
            method: finite_or_none(score) for method, score in seam_scores.items()
        }
    if "alignment" in tables:
        metrics["fit_rms_pix"] = {
            str(row["visit"]): {
                "xrms": finite_or_none(row["xrms_pix"]),
                "yrms": finite_or_none(row["yrms_pix"]),
            }
            for _, row in tables["alignment"].iterrows()
        }
    return metrics


def named_values(metrics: Mapping) -> dict[str, float | None]:
    """Each value of a summary's ``metrics`` under the name the comparison shows."""
    values: dict[str, float | None] = {}
    for method, per_exposure in metrics.get("mdrizsky_e_s", {}).items():
        for rootname, value in per_exposure.items():
            values[f"MDRIZSKY {method} {rootname} (e-/s)"] = value
    for method, value in metrics.get("seam_score", {}).items():
        values[f"seam score {method}"] = value
    for visit, rms in metrics.get("fit_rms_pix", {}).items():
        values[f"fit xrms {visit} (pix)"] = rms["xrms"]
        values[f"fit yrms {visit} (pix)"] = rms["yrms"]
    return values
