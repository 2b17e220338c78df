"""Metric tables compared with stored baselines, and what pytest-regressions cannot see.

pytest-regressions does the comparing (``dataframe_regression``, with per-column absolute
tolerances from the field spec). Before it runs, skyqa checks two things it does not:
NaN (it treats NaN as equal to NaN) and columns present in the baseline but missing now
(it only looks for the current columns in the baseline). The tables themselves are
`skyqa.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

import skyqa._baselines
from skyqa.errors import FieldSpecError
from skyqa.field import BaselineSpec, FieldSpec, registered_fields
from skyqa.metrics import key_columns
from skyqa.verdict import Verdict, is_finite

DISTANCE_CHECK = "Largest distance from the baseline"
"""The verdicts that report, per column, how near the values are to their tolerance;
pytest-regressions is the judge of the values themselves."""


def packaged_baselines() -> Path:
    """The registered fields' baselines shipped with skyqa (``skyqa._baselines``): the
    checkout's ``baselines/`` in an editable install, inside the package in a wheel's."""

    return Path(skyqa._baselines.__file__).parent


def baseline_folder(field: FieldSpec, explicit: Path | None = None) -> Path:
    """Where a field's baselines are: ``<explicit>/<field>`` when a baseline directory
    is given (``--skyqa-baseline-dir``, ini, ``SKYQA_BASELINE_DIR``); else, for a
    registered field, the baselines shipped with skyqa; else beside the user's spec file,
    ``<spec folder>/baselines/<field>``."""

    if explicit is not None:
        return explicit / field.name
    registered = registered_fields().get(field.name)
    source = field.source_path
    if registered is not None and source is not None and source.resolve() == registered.resolve():
        return packaged_baselines() / field.name
    folder = source.resolve().parent if source is not None else Path.cwd()
    return folder / "baselines" / field.name


def missing_baseline_sentence(
    field: str, name: str, path: Path, written: bool, fault: str | None = None
) -> str:
    """What a run without a stored baseline says (the check then has no verdict)."""
    if fault:
        return (
            f"No baseline of the {name} table for field {field} at {path}, and a session "
            f"with an injected fault ({fault}) never writes one: its tables are the fault's. "
            "Run without --skyqa-inject-fault to write it."
        )
    if written:
        return (
            f"No baseline of the {name} table for field {field} was stored: {path} has been "
            "written from this run. Review it (are these numbers right?) and keep it (commit "
            "it beside your spec); the next run is compared with it. This run is no verdict "
            "on the baseline comparison."
        )
    return (
        f"No baseline of the {name} table for field {field} at {path}, and skyqa never "
        "writes inside the installed package: pass --skyqa-baseline-dir DIR to keep "
        "baselines there (written by the next run, then compared)."
    )


def tolerances_for(spec: BaselineSpec, name: str, columns: list[str]) -> dict[str, dict]:
    """pytest-regressions tolerances for one table, from the field spec.

    Raises
    ------
    FieldSpecError
        If the spec names a column the table does not have.
    """
    named: dict[str, float] = getattr(spec, name)
    unknown = sorted(set(named) - set(columns))
    if unknown:
        raise FieldSpecError(
            f"[baseline].{name} names column(s) {', '.join(unknown)}, which the {name} table "
            f"does not have; its columns: {', '.join(columns)}."
        )
    return {column: {"atol": tolerance, "rtol": 0.0} for column, tolerance in named.items()}


def check_table_against_baseline(
    table: pd.DataFrame,
    name: str,
    baseline_path: Path,
    tolerances: Mapping[str, float] | None = None,
    default_atol: float = 0.0,
) -> list[Verdict]:
    """NaN in the current table, columns or rows present on one side only, and per
    numeric column the largest distance from the baseline against its tolerance.

    pytest-regressions judges the values (`test_matches_baseline` runs it after this);
    the distances say, in the report, how near each column is to failing it. Tolerances
    are absolute, as given to pytest-regressions: ``tolerances`` per column, else
    ``default_atol``; integer columns must be equal.
    """
    advice_regen = (
        "if the change is intended, regenerate with --force-regen and review the diff of "
        f"{baseline_path} before committing it (docs/baselines.md)."
    )
    numeric = table.select_dtypes(include=[np.number])
    nan_cells = [
        f"{table.loc[row, key_columns(name, table)].tolist()}:{column}"
        for column in numeric.columns
        for row in numeric.index[~np.isfinite(numeric[column].to_numpy(dtype=float))]
    ]
    verdicts = [
        Verdict(
            "Metric table has no NaN or inf",
            f"the {name} table",
            not nan_cells,
            f"{len(nan_cells)} non-finite value(s): {', '.join(nan_cells[:10])}"
            if nan_cells
            else "all finite",
            "no NaN or inf (pytest-regressions would count NaN equal to NaN)",
            "a NaN metric means a step produced no value: find the row's exposure or visit "
            "in the step's log.",
            item=name,
        )
    ]
    if not baseline_path.is_file():
        return verdicts
    baseline = pd.read_csv(baseline_path, index_col=0)
    missing = sorted(set(baseline.columns) - set(table.columns))
    extra = sorted(set(table.columns) - set(baseline.columns))
    verdicts.append(
        Verdict(
            "Metric table has the baseline's columns, both ways",
            f"the {name} table vs {baseline_path}",
            not missing and not extra,
            f"missing now: {missing or 'none'}; new: {extra or 'none'}",
            "the same columns",
            advice_regen,
            item=name,
        )
    )
    keys = key_columns(name, table)
    current_rows = {tuple(row) for row in table[keys].astype(str).to_numpy()}
    if set(keys) <= set(baseline.columns):
        baseline_rows = {tuple(row) for row in baseline[keys].astype(str).to_numpy()}
        gone, new = sorted(baseline_rows - current_rows), sorted(current_rows - baseline_rows)
        verdicts.append(
            Verdict(
                "Metric table has the baseline's rows, both ways",
                f"the {name} table vs {baseline_path}",
                not gone and not new,
                f"missing now: {gone[:10] or 'none'}; new: {new[:10] or 'none'}",
                f"the same {', '.join(keys)}",
                "an exposure, visit or overlap appeared or disappeared: check the inputs "
                "and the alignment; " + advice_regen,
                item=name,
            )
        )
        verdicts += _distances(
            table, baseline, name, keys, dict(tolerances or {}), default_atol, advice_regen
        )
    return verdicts


def _distances(
    table: pd.DataFrame,
    baseline: pd.DataFrame,
    name: str,
    keys: list[str],
    tolerances: dict[str, float],
    default_atol: float,
    advice: str,
) -> list[Verdict]:
    """Per numeric column both tables have: the largest |current - baseline| over the
    rows both have, and the row where it is."""
    joined = table.astype({key: str for key in keys}).merge(
        baseline.astype({key: str for key in keys}), on=keys, suffixes=("", " (baseline)")
    )
    verdicts = []
    for column in table.select_dtypes(include=[np.number]).columns:
        if column in keys or column not in baseline.columns or joined.empty:
            continue
        distance = (joined[column] - joined[f"{column} (baseline)"]).abs().to_numpy(dtype=float)
        # The row a NaN is in, where there is one (it is what fails); else the largest.
        not_a_number = np.flatnonzero(np.isnan(distance))
        if len(not_a_number):
            at = int(not_a_number[0])
        else:
            at = int(np.nanargmax(distance)) if np.isfinite(distance).any() else 0
        largest = float(distance[at])
        integer = pd.api.types.is_integer_dtype(table[column])
        tolerance = 0.0 if integer else tolerances.get(column, default_atol)
        where = ", ".join(str(joined.loc[at, key]) for key in keys)
        verdicts.append(
            Verdict(
                DISTANCE_CHECK,
                f"column {column} of the {name} table",
                is_finite(largest) and largest <= tolerance,
                f"{largest:.3g} at {where} (now {joined.loc[at, column]:.6g}, baseline "
                f"{joined.loc[at, f'{column} (baseline)']:.6g})",
                f"<= {tolerance:g}" + (" (integers compare exactly)" if integer else ""),
                advice,
                item=name,
                value=largest,
                limit=tolerance,
            )
        )
    return verdicts
