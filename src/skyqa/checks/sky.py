"""Checks of the sky levels (MDRIZSKY) AstroDrizzle subtracted, per sky method."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

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


def check_pedestals_recovered(
    mdrizsky: pd.DataFrame,
    injected_pedestal_e_s: Mapping[str, float],
    tolerance_e_s: float,
    skymethod: str,
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
    """
    table = mdrizsky.set_index("rootname")["mdrizsky_e_s"]
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
        verdicts.append(
            Verdict(
                "MDRIZSKY reproduces the injected pedestal",
                f"exposure {name} ({skymethod})",
                bool(abs(residual) <= tolerance_e_s),
                f"residual {residual:+.5f} e-/s (MDRIZSKY {table[name]:.5f}, injected "
                f"{injected_pedestal_e_s[name]:.5f}, common constant {constant:+.5f})",
                f"|residual| <= {tolerance_e_s} e-/s",
                "a residual this large means the sky matching did not measure the overlap "
                "differences: read the AstroDrizzle log for 'Reverting sky computation' "
                "and look at this exposure's overlaps in the mosaic.",
            )
        )
    return verdicts
