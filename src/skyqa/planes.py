"""Each exposure's residual sky plane, from the overlaps, as Montage's mBgModel fits one.

A sky method subtracts one constant per exposure. A sky that changes across an exposure
(a gradient from scattered light, a bad flat, a ramp left by a persistence model) is left
in the mosaic as seams along its edges that no constant levels. In each overlapping
pair, the difference ``D = S_a - S_b`` of the two skies at a sample is modelled as
``c + g_a . w_a - g_b . w_b``: ``w`` the sample's position on each detector, in detector
lengths from its centre (``x / width - 1/2``, ``y / height - 1/2``), ``g`` each exposure's
gradient (e-/s per detector length) and ``c`` the pair's constant. A pair holds its
least-squares sums (`plane_sums`, centred on its means so that ``c`` drops out: the
`PLANE_COLUMNS` of the overlap table), and `residual_planes` solves all exposures'
gradients together from all pairs. A gradient common to every exposure on its own
detector is not seen by any difference: the solution is the one whose gradients sum to
none, each exposure's gradient against the others'.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PLANE_COLUMNS = [
    "plane_variance",
    "plane_saa_uu", "plane_saa_uv", "plane_saa_vv",
    "plane_sbb_uu", "plane_sbb_uv", "plane_sbb_vv",
    "plane_sab_uu", "plane_sab_uv", "plane_sab_vu", "plane_sab_vv",
    "plane_ra_u", "plane_ra_v", "plane_rb_u", "plane_rb_v",
]  # fmt: skip
"""Per pair: one sample's variance (e-/s squared) and the centred sums of the plane's
least squares (`plane_sums`): ``saa`` and ``sbb`` the sums of each side's ``w w^T``,
``sab`` of ``w_a w_b^T`` (first letter a's axis, second b's), ``ra`` and ``rb`` of each
side's ``w D``."""
PLANE_TABLE_COLUMNS = ["unit", "gradient_u", "gradient_v", "uncertainty_u", "uncertainty_v",
                       "noise_e_s", "pairs"]  # fmt: skip
"""`residual_planes`: per exposure (``rootname``, or ``rootname:chip`` on the two-chip
CCDs) its gradient along its detector's x (``u``) and y (``v``) in e-/s per detector
length, their uncertainties, its pixel noise (the median of its pairs') and its pairs."""


def plane_sums(
    differences: np.ndarray,
    a_position: tuple[np.ndarray, np.ndarray],
    b_position: tuple[np.ndarray, np.ndarray],
    variance: float,
) -> dict[str, float]:
    """`PLANE_COLUMNS` of one pair from its samples: ``differences`` (a - b, e-/s) at
    positions on a's and b's detectors in detector lengths from their centres."""
    d = np.asarray(differences, float)
    wa = np.column_stack(a_position).astype(float)
    wb = np.column_stack(b_position).astype(float)
    d, wa, wb = d - d.mean(), wa - wa.mean(axis=0), wb - wb.mean(axis=0)
    saa, sbb, sab = wa.T @ wa, wb.T @ wb, wa.T @ wb
    ra, rb = wa.T @ d, wb.T @ d
    return {
        "plane_variance": float(variance),
        "plane_saa_uu": saa[0, 0], "plane_saa_uv": saa[0, 1], "plane_saa_vv": saa[1, 1],
        "plane_sbb_uu": sbb[0, 0], "plane_sbb_uv": sbb[0, 1], "plane_sbb_vv": sbb[1, 1],
        "plane_sab_uu": sab[0, 0], "plane_sab_uv": sab[0, 1], "plane_sab_vu": sab[1, 0],
        "plane_sab_vv": sab[1, 1],
        "plane_ra_u": ra[0], "plane_ra_v": ra[1], "plane_rb_u": rb[0], "plane_rb_v": rb[1],
    }  # fmt: skip


def _unit(pair, side: str) -> str:
    chip = getattr(pair, f"chip_{side}", None)
    name = str(getattr(pair, f"exposure_{side}"))
    return (
        name
        if chip is None or (isinstance(chip, float) and math.isnan(chip))
        else (f"{name}:{int(chip)}")
    )


def _block(pair, prefix: str) -> np.ndarray:
    if prefix == "sab":
        return np.array(
            [[pair.plane_sab_uu, pair.plane_sab_uv], [pair.plane_sab_vu, pair.plane_sab_vv]]
        )
    uu, uv, vv = (getattr(pair, f"plane_{prefix}_{axes}") for axes in ("uu", "uv", "vv"))
    return np.array([[uu, uv], [uv, vv]])


def residual_planes(pairs: pd.DataFrame) -> pd.DataFrame:
    """Every exposure's gradient (`PLANE_TABLE_COLUMNS`), solved from all pairs' sums
    weighted by their samples' inverse variance, with the gradients' sum held at none (a
    penalty of the normal matrix's mean diagonal on it). A pair without finite sums (an
    older table, no variance) is left out; an empty table without pairs."""
    usable = pairs.dropna(subset=[c for c in PLANE_COLUMNS if c in pairs])
    if usable.empty or not set(PLANE_COLUMNS) <= set(pairs.columns):
        return pd.DataFrame(columns=PLANE_TABLE_COLUMNS)
    usable = usable[usable["plane_variance"] > 0]
    units = sorted({_unit(p, s) for p in usable.itertuples(index=False) for s in "ab"})
    index = {unit: 2 * number for number, unit in enumerate(units)}
    size = 2 * len(units)
    normal, right = np.zeros((size, size)), np.zeros(size)
    noises: dict[str, list[float]] = {unit: [] for unit in units}
    for pair in usable.itertuples(index=False):
        a, b = index[_unit(pair, "a")], index[_unit(pair, "b")]
        weight = 1.0 / float(pair.plane_variance)
        sab = _block(pair, "sab") * weight
        normal[a : a + 2, a : a + 2] += _block(pair, "saa") * weight
        normal[b : b + 2, b : b + 2] += _block(pair, "sbb") * weight
        normal[a : a + 2, b : b + 2] -= sab
        normal[b : b + 2, a : a + 2] -= sab.T
        right[a : a + 2] += np.array([pair.plane_ra_u, pair.plane_ra_v]) * weight
        right[b : b + 2] -= np.array([pair.plane_rb_u, pair.plane_rb_v]) * weight
        for side in "ab":
            noises[_unit(pair, side)].append(float(pair.pixel_noise_e_s))
    penalty = np.trace(normal) / size if size else 0.0
    normal += penalty * np.kron(np.ones((len(units), len(units))), np.eye(2))
    covariance = np.linalg.pinv(normal)
    gradients = covariance @ right
    rows = []
    for unit in units:
        i = index[unit]
        rows.append(
            {
                "unit": unit,
                "gradient_u": float(gradients[i]),
                "gradient_v": float(gradients[i + 1]),
                "uncertainty_u": float(math.sqrt(max(covariance[i, i], 0.0))),
                "uncertainty_v": float(math.sqrt(max(covariance[i + 1, i + 1], 0.0))),
                "noise_e_s": float(np.median(noises[unit])),
                "pairs": len(noises[unit]),
            }
        )
    return pd.DataFrame(rows, columns=PLANE_TABLE_COLUMNS)
