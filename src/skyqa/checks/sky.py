"""Checks of the sky levels (MDRIZSKY) AstroDrizzle subtracted, per sky method."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from skyqa.drizzle import FALLBACK_MARKER, applied_sky_values, fallback_lines
from skyqa.verdict import Verdict


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
                ", ".join(f"{value:.6g} e-/s" for value in values) or "no value",
                "one finite value in e-/s",
                "a missing or NaN MDRIZSKY means AstroDrizzle skipped the sky step for this "
                "exposure: read the AstroDrizzle log for 'Reverting sky computation' and "
                "check the exposure's SCI header and BUNIT.",
            )
        )
    return verdicts


def _residuals_from_truth(
    mdrizsky: pd.DataFrame, injected_pedestal_e_s: Mapping[str, float]
) -> pd.Series:
    """MDRIZSKY - pedestal per exposure, less their mean (the one free constant)."""
    table = mdrizsky.set_index("rootname")["mdrizsky_e_s"]
    common = [name for name in injected_pedestal_e_s if name in table.index]
    offsets = pd.Series({name: table[name] - injected_pedestal_e_s[name] for name in common})
    return offsets - offsets.mean()


def check_pedestals_recovered(
    mdrizsky: pd.DataFrame,
    injected_pedestal_e_s: Mapping[str, float],
    tolerance_e_s: float,
    skymethod: str,
    compare_with: pd.DataFrame | None = None,
) -> list[Verdict]:
    """MDRIZSKY reproduces the injected sky pedestals up to one common constant.

    The constant is the mean of ``MDRIZSKY - pedestal`` over the exposures (the
    least-squares choice); each exposure's residual from it must be within the tolerance.

    Parameters
    ----------
    mdrizsky : pandas.DataFrame
        Columns ``rootname`` and ``mdrizsky_e_s``.
    injected_pedestal_e_s : mapping
        rootname -> sky pedestal injected by the simulator (e-/s).
    tolerance_e_s : float
        Largest allowed absolute residual (e-/s).
    skymethod : str
        The sky method that produced the values (used in messages).
    compare_with : pandas.DataFrame, optional
        Another method's MDRIZSKY (``localmin``'s, say): how far it is from the truth is
        reported in each verdict, for comparison.
    """
    table = mdrizsky.set_index("rootname")["mdrizsky_e_s"]
    others = (
        None if compare_with is None else _residuals_from_truth(compare_with, injected_pedestal_e_s)
    )
    missing = sorted(set(injected_pedestal_e_s) - set(table.index))
    verdicts = [
        Verdict(
            "MDRIZSKY reproduces the injected pedestal",
            f"exposure {rootname} ({skymethod})",
            False,
            "no MDRIZSKY for this exposure",
            f"a value within {tolerance_e_s} e-/s of the injected pedestal (up to a constant)",
            "the exposure was not drizzled: check that it is in the AstroDrizzle log.",
        )
        for rootname in missing
    ]
    common = [name for name in injected_pedestal_e_s if name in table.index]
    offsets = np.array([table[name] - injected_pedestal_e_s[name] for name in common])
    constant = float(np.nanmean(offsets)) if len(offsets) else float("nan")
    for name, offset in zip(common, offsets, strict=True):
        residual = offset - constant
        comparison = (
            ""
            if others is None or name not in others.index
            else f"; the compared method is off by {others[name]:+.5f} e-/s here"
        )
        verdicts.append(
            Verdict(
                "MDRIZSKY reproduces the injected pedestal",
                f"exposure {name} ({skymethod})",
                bool(abs(residual) <= tolerance_e_s),
                f"residual {residual:+.5f} e-/s (MDRIZSKY {table[name]:.5f}, injected "
                f"{injected_pedestal_e_s[name]:.5f}, common constant {constant:+.5f})" + comparison,
                f"|residual| <= {tolerance_e_s} e-/s",
                "a residual this large means the sky matching did not measure the overlap "
                "differences: read the AstroDrizzle log for 'Reverting sky computation' "
                "and look at this exposure's overlaps in the mosaic.",
                item=name,
                value=float(residual),
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
        agrees = (
            logged is not None
            and np.isfinite(header_value)
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
            )
        )
    return verdicts


def check_match_levels(
    mdrizsky: pd.DataFrame, skymethod: str, max_e_s: float, tolerance_e_s: float
) -> list[Verdict]:
    """``match`` leaves the lowest exposure at 0, none negative, the largest below a limit."""
    values = mdrizsky.set_index("rootname")["mdrizsky_e_s"].astype(float)
    lowest_name = values.idxmin() if values.notna().any() else "none"
    lowest = float(values.min())
    negative = values[values < -tolerance_e_s]
    highest_name = values.idxmax() if values.notna().any() else "none"
    highest = float(values.max())
    advice = (
        "match subtracts the minimum of its solution, so its values start at exactly 0: "
        "other values mean a fallback or an edit; read the log. "
    )
    return [
        Verdict(
            "Lowest matched sky is zero",
            f"exposure {lowest_name} ({skymethod})",
            bool(abs(lowest) <= tolerance_e_s),
            f"{lowest:.6f} e-/s",
            f"0 within {tolerance_e_s} e-/s",
            advice + FALLBACK_ADVICE,
            item=skymethod,
            value=lowest,
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
            bool(highest <= max_e_s),
            f"{highest:.6f} e-/s",
            f"<= {max_e_s} e-/s",
            "a large matched difference is a real sky difference or a bad overlap "
            "measurement: look at this exposure's overlaps in the match mosaic.",
            item=skymethod,
            value=highest,
        ),
    ]


def check_globalmin(
    globalmin: pd.DataFrame, localmin: pd.DataFrame, tolerance_e_s: float
) -> list[Verdict]:
    """``globalmin`` gives every exposure one value: the smallest ``localmin`` value."""
    values = globalmin.set_index("rootname")["mdrizsky_e_s"].astype(float)
    minimum = float(localmin["mdrizsky_e_s"].min())
    spread = float(values.max() - values.min())
    worst = float((values - minimum).abs().max())
    return [
        Verdict(
            "globalmin is one value for all exposures",
            f"globalmin ({len(values)} exposures)",
            bool(spread <= tolerance_e_s),
            f"spread {spread:.2e} e-/s",
            f"<= {tolerance_e_s} e-/s",
            "globalmin must subtract the same sky everywhere: read the log for a fallback.",
            item="globalmin",
            value=spread,
        ),
        Verdict(
            "globalmin equals the smallest localmin sky",
            "globalmin",
            bool(worst <= tolerance_e_s),
            f"largest |globalmin - min(localmin)| {worst:.2e} e-/s (min localmin {minimum:.6f})",
            f"<= {tolerance_e_s} e-/s",
            "the two runs saw different data or masks: compare their logs' sky statistics.",
            item="globalmin",
            value=worst,
        ),
    ]


def check_globalmin_plus_match(
    globalmin_match: pd.DataFrame, match: pd.DataFrame, tolerance_e_s: float
) -> list[Verdict]:
    """``globalmin+match`` minus ``match`` is one constant for every exposure."""
    difference = (
        globalmin_match.set_index("rootname")["mdrizsky_e_s"]
        - match.set_index("rootname")["mdrizsky_e_s"]
    )
    spread = float(difference.max() - difference.min()) if difference.notna().all() else np.nan
    return [
        Verdict(
            "globalmin+match is match plus one constant",
            f"globalmin+match vs match ({len(difference)} exposures)",
            bool(spread <= tolerance_e_s),
            f"spread of the difference {spread:.2e} e-/s (mean {difference.mean():.6f})",
            f"<= {tolerance_e_s} e-/s",
            "one of the two runs did not match skies: " + FALLBACK_ADVICE,
            item="globalmin+match",
            value=spread,
        )
    ]
