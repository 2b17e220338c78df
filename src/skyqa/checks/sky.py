"""Checks of the sky levels (MDRIZSKY) AstroDrizzle subtracted, per sky method."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from skyqa.drizzle import FALLBACK_MARKER, applied_sky_values, fallback_lines
from skyqa.verdict import Verdict, is_finite


def check_mdrizsky_finite(mdrizsky: pd.DataFrame, skymethod: str) -> list[Verdict]:
    """Every exposure has exactly one finite MDRIZSKY (e-/s).

    Parameters
    ----------
    mdrizsky : pandas.DataFrame
        Columns ``rootname`` and ``mdrizsky_e_s``, one row per exposure.
    skymethod : str
        The sky method that produced the values (used in messages).
    """
    verdicts = []
    for rootname, rows in mdrizsky.groupby("rootname", sort=False):
        values = rows["mdrizsky_e_s"].to_numpy(dtype=float)
        one_finite = len(values) == 1 and bool(np.isfinite(values[0]))
        verdicts.append(
            Verdict(
                "MDRIZSKY is one finite value",
                f"exposure {rootname} ({skymethod})",
                one_finite,
                ", ".join(f"{value:.6g} e-/s" for value in values),
                "one finite value in e-/s",
                "a missing or NaN MDRIZSKY means AstroDrizzle skipped the sky step for this "
                "exposure: read the AstroDrizzle log for 'Reverting sky computation' and "
                "check the exposure's SCI header and BUNIT.",
            )
        )
    return verdicts


def _residuals_from_truth(
    mdrizsky: pd.DataFrame, injected_pedestal_e_s: Mapping[str, float]
) -> tuple[pd.Series, float]:
    """MDRIZSKY - pedestal per exposure, less their mean over the finite ones (the one
    free constant); and that constant."""
    table = mdrizsky.groupby("rootname", sort=False)["mdrizsky_e_s"].first().astype(float)
    common = [name for name in injected_pedestal_e_s if name in table.index]
    offsets = pd.Series(
        {name: table[name] - injected_pedestal_e_s[name] for name in common}, dtype=float
    )
    finite = offsets[np.isfinite(offsets)]
    constant = float(finite.mean()) if len(finite) else math.nan
    return offsets - constant, constant


def pedestal_tolerances(pairs: pd.DataFrame, max_noise_fraction: float) -> dict[str, float]:
    """Per exposure, the tolerance of a sky value that agrees with the seam check: half
    the seam threshold, ``max_noise_fraction / 2`` times the exposure's per-pixel noise
    (the median ``pixel_noise_e_s`` of its overlapping pairs). The pedestal-truth check
    and the oracle check both use it.

    Why half: a pair's seam is the difference of its two exposures' sky errors. If every
    exposure is within half the threshold of the truth (or of the oracle, up to the
    common constant), no two can differ by more than the threshold, so no seam; an
    exposure past it is a seam against a neighbour that is right or off the other way.
    """
    noise: dict[str, list[float]] = {}
    for pair in pairs.itertuples(index=False):
        for name in (pair.exposure_a, pair.exposure_b):
            noise.setdefault(name, []).append(float(pair.pixel_noise_e_s))
    return {name: 0.5 * max_noise_fraction * float(np.median(v)) for name, v in noise.items()}


def tolerance_of(tolerance_e_s: float | Mapping[str, float], name: str) -> float:
    """One tolerance for all exposures, or an exposure's own (NaN where not named)."""
    if isinstance(tolerance_e_s, Mapping):
        return float(tolerance_e_s.get(name, math.nan))
    return float(tolerance_e_s)


def check_pedestals_recovered(
    mdrizsky: pd.DataFrame,
    injected_pedestal_e_s: Mapping[str, float],
    tolerance_e_s: float | Mapping[str, float],
    skymethod: str,
    compare_with: pd.DataFrame | None = None,
) -> list[Verdict]:
    """MDRIZSKY reproduces the injected sky pedestals up to one common constant.

    The constant is the mean of ``MDRIZSKY - pedestal`` over the exposures with finite
    values (the least-squares choice); each exposure's residual from it must be within
    the tolerance. A missing or NaN MDRIZSKY fails for its exposure.

    Parameters
    ----------
    mdrizsky : pandas.DataFrame
        Columns ``rootname`` and ``mdrizsky_e_s``.
    injected_pedestal_e_s : mapping
        rootname -> sky pedestal injected by the simulator (e-/s).
    tolerance_e_s : float or mapping
        Largest allowed absolute residual (e-/s): one for all, or per rootname
        (`pedestal_tolerances`; an exposure it does not name has NaN, and fails).
    skymethod : str
        The sky method that produced the values (used in messages).
    compare_with : pandas.DataFrame, optional
        Another method's MDRIZSKY (``localmin``'s, say): how far it is from the truth is
        reported in each verdict, for comparison.
    """
    table = mdrizsky.groupby("rootname", sort=False)["mdrizsky_e_s"].first().astype(float)
    residuals, constant = _residuals_from_truth(mdrizsky, injected_pedestal_e_s)
    others = (
        None
        if compare_with is None
        else _residuals_from_truth(compare_with, injected_pedestal_e_s)[0]
    )
    missing = sorted(set(injected_pedestal_e_s) - set(table.index))

    def tolerance(name: str) -> float:
        return tolerance_of(tolerance_e_s, name)

    verdicts = [
        Verdict(
            "MDRIZSKY reproduces the injected pedestal",
            f"exposure {rootname} ({skymethod})",
            False,
            "no MDRIZSKY for this exposure",
            f"a value within {tolerance(rootname):.5g} e-/s of the injected pedestal (up "
            "to a constant)",
            "the exposure was not drizzled: check that it is in the AstroDrizzle log.",
            item=rootname,
        )
        for rootname in missing
    ]
    for name, residual in residuals.items():
        comparison = (
            ""
            if others is None or name not in others.index
            else f"; the compared method is off by {others[name]:+.5f} e-/s here"
        )
        limit = tolerance(name)
        verdicts.append(
            Verdict(
                "MDRIZSKY reproduces the injected pedestal",
                f"exposure {name} ({skymethod})",
                abs(residual) <= limit,  # False when either is NaN
                f"residual {residual:+.5f} e-/s (MDRIZSKY {table[name]:.5f}, injected "
                f"{injected_pedestal_e_s[name]:.5f}, common constant {constant:+.5f})"
                + comparison
                + ("" if is_finite(residual) else "; not a number: this exposure's MDRIZSKY is NaN")
                + (
                    ""
                    if is_finite(limit)
                    else "; no tolerance: this exposure's pixel noise is unknown (no overlap "
                    "was measured for it)"
                ),
                f"|residual| <= {limit:.5g} e-/s",
                "a residual this large means the sky matching did not measure the overlap "
                "differences: read the AstroDrizzle log for 'Reverting sky computation' "
                "and look at this exposure's overlaps in the mosaic.",
                item=name,
                value=float(residual),
                limit=limit,
            )
        )
    return verdicts


FALLBACK_ADVICE = (
    "drizzlepac's sky matching raised and it fell back silently: a known cause is "
    "spherical_geometry >= 1.4 with stsci.skypac 1.0.12 (SphericalPolygon.iter_polygons_flat "
    "was removed); check `pip show spherical_geometry` and the log's traceback."
)


def fallback_note(log_text: str, skymethod: str) -> str:
    """A sentence naming the fallback when the log shows one, else ''."""
    reverted = fallback_lines(log_text)
    if not reverted:
        return ""
    return (
        f"Cause: drizzlepac fell back from {skymethod!r} (its log says {reverted[0]!r}), so "
        "these skies were not matched."
    )


def check_no_sky_fallback(
    log_text: str,
    mdrizsky: pd.DataFrame,
    skymethod: str,
    tolerance_e_s: float,
    log_name: str = "the AstroDrizzle log",
) -> list[Verdict]:
    """The sky method ran as requested, and the sky it subtracted is the header's.

    Two verdicts kinds: the log has no ``Reverting sky computation`` line; and for every
    exposure, the sky the log says was applied while drizzling equals its MDRIZSKY.
    """
    reverted = fallback_lines(log_text)
    verdicts = [
        Verdict(
            "Sky method ran without falling back",
            f"the {skymethod} mosaic ({log_name})",
            not reverted,
            f"the log says: {reverted[0]!r}" if reverted else "no fallback in the log",
            f"no '{FALLBACK_MARKER}' line",
            FALLBACK_ADVICE,
            item=skymethod,
        )
    ]
    applied = applied_sky_values(log_text)
    for _, row in mdrizsky.iterrows():
        name, header_value = row["rootname"], float(row["mdrizsky_e_s"])
        logged = applied.get(name)
        if logged is not None and "exptime_s" in row:  # the log has the exposure's electrons
            logged = logged / float(row["exptime_s"])
        agrees = (
            logged is not None
            and is_finite(header_value)
            and abs(logged - header_value) <= tolerance_e_s
        )
        verdicts.append(
            Verdict(
                "Logged sky equals the header's MDRIZSKY",
                f"exposure {name} ({skymethod})",
                bool(agrees),
                f"logged {'none' if logged is None else f'{logged:.6f}'} e-/s, header "
                f"MDRIZSKY {header_value:.6f} e-/s",
                f"equal within {tolerance_e_s} e-/s",
                "the header does not record the sky that was subtracted (after a fallback "
                "the sky is only in the log): "
                + (FALLBACK_ADVICE if reverted else "read the log's 'Applying sky value' lines."),
                item=skymethod,
                value=None if logged is None else abs(logged - header_value),
                limit=tolerance_e_s,
            )
        )
    return verdicts


def _non_finite(
    tables: Mapping[str, pd.DataFrame], check: str, subject: str, advice: str
) -> list[Verdict]:
    """A failed verdict naming the exposures whose MDRIZSKY is not finite, per method."""
    verdicts = []
    for method, table in tables.items():
        values = table["mdrizsky_e_s"].astype(float)
        bad = table.loc[~np.isfinite(values.to_numpy()), "rootname"].tolist()
        if bad:
            verdicts.append(
                Verdict(
                    check,
                    subject,
                    False,
                    f"{method} MDRIZSKY not a number for {', '.join(map(str, bad))}",
                    "a finite MDRIZSKY for every exposure",
                    " ".join(
                        part
                        for part in (
                            "AstroDrizzle wrote no sky for these exposures: read its log for "
                            "'Reverting sky computation' and check their SCI headers.",
                            advice,
                        )
                        if part
                    ),
                    item=method,
                )
            )
    return verdicts


def check_match_levels(
    mdrizsky: pd.DataFrame, skymethod: str, max_e_s: float, tolerance_e_s: float
) -> list[Verdict]:
    """``match`` leaves the lowest exposure at 0, none negative, the largest below a limit.

    Judged on the finite values; an exposure whose value is not finite fails on its own.
    """
    table = mdrizsky[np.isfinite(mdrizsky["mdrizsky_e_s"].astype(float).to_numpy())]
    values = table.set_index("rootname")["mdrizsky_e_s"].astype(float)
    advice = (
        "match subtracts the minimum of its solution, so its values start at exactly 0: "
        "other values mean a fallback or an edit; read the log."
    )
    verdicts = _non_finite({skymethod: mdrizsky}, "Matched skies are numbers", skymethod, advice)
    if values.empty:
        return [
            *verdicts,
            Verdict(
                "Lowest matched sky is zero",
                f"{skymethod} ({len(mdrizsky)} exposures)",
                False,
                "no finite MDRIZSKY at all",
                f"0 within {tolerance_e_s} e-/s",
                f"{advice} {FALLBACK_ADVICE}",
                item=skymethod,
            ),
        ]
    lowest_name, lowest = values.idxmin(), float(values.min())
    highest_name, highest = values.idxmax(), float(values.max())
    negative = values[values < -tolerance_e_s]
    return [
        *verdicts,
        Verdict(
            "Lowest matched sky is zero",
            f"exposure {lowest_name} ({skymethod})",
            abs(lowest) <= tolerance_e_s,
            f"{lowest:.6f} e-/s",
            f"0 within {tolerance_e_s} e-/s",
            f"{advice} {FALLBACK_ADVICE}",
            item=skymethod,
            value=lowest,
            limit=tolerance_e_s,
        ),
        Verdict(
            "No matched sky is negative",
            f"{skymethod} ({len(values)} exposures)",
            negative.empty,
            ", ".join(f"{name} {value:.6f}" for name, value in negative.items()) or "none",
            f">= -{tolerance_e_s} e-/s",
            advice,
            item=skymethod,
        ),
        Verdict(
            "Largest matched sky is below the field's limit",
            f"exposure {highest_name} ({skymethod})",
            highest <= max_e_s,
            f"{highest:.6f} e-/s",
            f"<= {max_e_s} e-/s",
            "a large matched difference is a real sky difference or a bad overlap "
            "measurement: look at this exposure's overlaps in the match mosaic.",
            item=skymethod,
            value=highest,
            limit=max_e_s,
        ),
    ]


def _rows_both_ways(
    first: pd.DataFrame, second: pd.DataFrame, names: tuple[str, str], check: str
) -> list[Verdict]:
    """A failed verdict when the two methods' tables do not list the same exposures once."""
    rows = [table["rootname"].astype(str) for table in (first, second)]
    only = [sorted(set(a) - set(b)) for a, b in ((rows[0], rows[1]), (rows[1], rows[0]))]
    repeated = sorted({name for column in rows for name in column[column.duplicated()]})
    if not (only[0] or only[1] or repeated):
        return []
    return [
        Verdict(
            check,
            f"{names[0]} vs {names[1]}",
            False,
            f"only in {names[0]}: {only[0] or 'none'}; only in {names[1]}: {only[1] or 'none'}; "
            f"listed twice: {repeated or 'none'}",
            "the same exposures, once each",
            "the two mosaics were drizzled from different inputs: compare their logs' input lists.",
            item=names[0],
        )
    ]


def check_globalmin(
    globalmin: pd.DataFrame, localmin: pd.DataFrame, tolerance_e_s: float
) -> list[Verdict]:
    """``globalmin`` gives every exposure one value: the smallest ``localmin`` value.

    Every exposure must be in both tables, once, with a finite value.
    """
    check = "globalmin equals the smallest localmin sky"
    verdicts = _rows_both_ways(globalmin, localmin, ("globalmin", "localmin"), check)
    verdicts += _non_finite({"globalmin": globalmin, "localmin": localmin}, check, "globalmin", "")
    # skipna=False: a NaN (or an empty table) makes each number NaN, and its verdict fail.
    values = globalmin["mdrizsky_e_s"].astype(float)
    minimum = float(localmin["mdrizsky_e_s"].astype(float).min(skipna=False))
    spread = float(values.max(skipna=False) - values.min(skipna=False))
    worst = float((values - minimum).abs().max(skipna=False))
    return [
        *verdicts,
        Verdict(
            "globalmin is one value for all exposures",
            f"globalmin ({len(values)} exposures)",
            is_finite(spread) and spread <= tolerance_e_s,
            f"spread {spread:.2e} e-/s",
            f"<= {tolerance_e_s} e-/s",
            "globalmin must subtract the same sky everywhere: read the log for a fallback.",
            item="globalmin",
            value=spread,
            limit=tolerance_e_s,
        ),
        Verdict(
            check,
            "globalmin",
            is_finite(worst) and worst <= tolerance_e_s,
            f"largest |globalmin - min(localmin)| {worst:.2e} e-/s (min localmin {minimum:.6f})",
            f"<= {tolerance_e_s} e-/s",
            "the two runs saw different data or masks: compare their logs' sky statistics.",
            item="globalmin",
            value=worst,
            limit=tolerance_e_s,
        ),
    ]


def check_globalmin_plus_match(
    globalmin_match: pd.DataFrame, match: pd.DataFrame, tolerance_e_s: float
) -> list[Verdict]:
    """``globalmin+match`` minus ``match`` is one constant for every exposure.

    Every exposure must be in both tables, once, with a finite value.
    """
    check = "globalmin+match is match plus one constant"
    verdicts = _rows_both_ways(globalmin_match, match, ("globalmin+match", "match"), check)
    verdicts += _non_finite(
        {"globalmin+match": globalmin_match, "match": match}, check, "globalmin+match", ""
    )
    difference = globalmin_match.groupby("rootname")["mdrizsky_e_s"].first().astype(
        float
    ) - match.groupby("rootname")["mdrizsky_e_s"].first().astype(float)
    spread = float(difference.max(skipna=False) - difference.min(skipna=False))
    return [
        *verdicts,
        Verdict(
            check,
            f"globalmin+match vs match ({len(difference)} exposures)",
            is_finite(spread) and spread <= tolerance_e_s,
            f"spread of the difference {spread:.2e} e-/s (mean {difference.mean():.6f})",
            f"<= {tolerance_e_s} e-/s",
            "one of the two runs did not match skies: " + FALLBACK_ADVICE,
            item="globalmin+match",
            value=spread,
            limit=tolerance_e_s,
        ),
    ]
