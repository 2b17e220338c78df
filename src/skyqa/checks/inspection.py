"""Checks of the data as delivered: one instrument set-up, and the archive's alignment."""

from __future__ import annotations

import math

import pandas as pd

from skyqa.checks.chips import chip_label
from skyqa.checks.limits import AstrometryGrades
from skyqa.names import visit_of
from skyqa.verdict import Verdict, is_finite


def check_uniform_setup(headers: pd.DataFrame) -> list[Verdict]:
    """Every exposure has the same detector and filter, and a positive EXPTIME."""
    if headers.empty:
        return [
            Verdict(
                "All exposures share one DETECTOR and FILTER",
                "0 exposures",
                False,
                "no exposure headers",
                "at least one exposure",
                "no exposure was acquired: check the field's data folder or query.",
                item="all",
            )
        ]
    verdicts = []
    for key in ("DETECTOR", "FILTER"):
        values = headers[key].astype(str)
        common = values.mode(dropna=False).iloc[0]  # a keyword no header has: NaN
        odd = headers.loc[values != common, "FILENAME"].tolist()
        verdicts.append(
            Verdict(
                f"All exposures share one {key}",
                f"{len(headers)} exposures",
                not odd,
                f"{key} {common}" + (f", except {', '.join(odd)}" if odd else ""),
                f"one {key}",
                f"a mosaic mixes {key.lower()}s only by mistake: remove the odd exposures from "
                "the field's data or split the field.",
                item="all",
            )
        )
    for _, row in headers.iterrows():
        exptime = float(row["EXPTIME"])
        verdicts.append(
            Verdict(
                "Exposure time is positive",
                f"exposure {row['FILENAME']}",
                is_finite(exptime) and exptime > 0,
                f"EXPTIME {exptime}",
                "> 0 s",
                "AstroDrizzle silently drops an exposure without EXPTIME: check the file.",
                item=str(row["ROOTNAME"]).lower(),
                value=exptime,
            )
        )
    return verdicts


def check_delivered_wcs(wcs_table: pd.DataFrame, grades: AstrometryGrades) -> list[Verdict]:
    """Each visit DRZ came aligned to Gaia (its WCSNAME says so), with its RMS (the 2-D
    RMS of the archive's RMS_RA and RMS_DEC, mas) graded with HAP's limits (``grades``)."""
    verdicts = []
    for _, row in wcs_table.iterrows():
        visit = visit_of(row["FILENAME"])
        name = str(row["WCSNAME"])
        rms = (float(row["RMS_RA"]), float(row["RMS_DEC"]))
        total = math.hypot(*rms) if all(map(is_finite, rms)) else math.nan
        measured = (
            f"WCSNAME {name}, {row['NMATCHES']} matches, RMS {rms[0]:.1f} x {rms[1]:.1f} mas "
            f"(RA x Dec), {total:.1f} mas in all"
        )
        advice = (
            "the archive's alignment is not good enough to use as is: this is why the "
            "visits are realigned here (see the alignment checks)."
        )
        if "GAIA" not in name.upper():
            verdicts.append(
                Verdict(
                    "Delivered WCS is fit to Gaia",
                    f"visit {visit}",
                    False,
                    measured,
                    "a WCSNAME naming a Gaia fit",
                    advice,
                    item=visit,
                    value=total,
                    limit=grades.good_mas,
                )
            )
            continue
        verdicts.append(
            grades.grade(
                "Delivered WCS is fit to Gaia within HAP's limits",
                f"visit {visit}",
                total,
                measured,
                advice,
                visit,
            )
        )
    return verdicts


def column_verdict(
    rootname: str,
    column: int,
    deviation: float,
    score: float,
    max_sigma: float = 10.0,
    chip: int = 0,
) -> list[Verdict]:
    """No detector column stands out from its neighbours without being flagged in DQ:
    the verdict on an exposure's worst ``column`` (0-based), its ``deviation`` (e-/s)
    and ``score`` (robust sigma) from `skyqa.columns.column_outlier`; above
    ``max_sigma`` it is an artefact (a hot or dead column) that DQ missed, and would leave
    a streak in the mosaic. ``chip``: the CCDCHIP of a two-chip exposure's chip (0: one
    chip). On arrays of your own::

        column_verdict(rootname, *column_outlier(sci, dq, good_bits), max_sigma)
    """
    where = f"exposure {chip_label(rootname, chip)}"
    return [
        Verdict(
            "No unflagged bad column",
            where,
            is_finite(score) and score <= max_sigma,
            f"column {column + 1} differs from its neighbours by {deviation:+.4f} e-/s "
            f"({score:.1f} sigma)"
            + (
                ""
                if is_finite(score)
                else "; not a number: no column of this exposure has a pixel good by "
                "final_bits, or the statistics failed"
            ),
            f"<= {max_sigma} sigma",
            "a detector column that DQ does not flag goes into the mosaic as a streak: flag it "
            "(DQ 4) in the FLT, or check the calibration (dark, flat) of this exposure.",
            item=f"{rootname}-chip{chip}" if chip else rootname,
            value=score,
            limit=max_sigma,
        )
    ]
