"""Every check's verdicts, word for word, on a small scenario with passes, failures and
NaN: the sentences are what a person acts on, so a change to one is reviewed like a
change to a number (pytest-regressions; after an intended change, rerun with
--force-regen and read the diff of test_check_messages/)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from skyqa.checks.alignment import (
    check_fit_quality,
    check_residuals,
    check_shift_file,
    check_tweakback,
    check_wcs_against_truth,
)
from skyqa.checks.inputs import check_inputs_untouched
from skyqa.checks.inspection import (
    check_delivered_wcs,
    check_uniform_setup,
    column_verdict,
)
from skyqa.checks.limits import AstrometryGrades, ErrorBudget
from skyqa.checks.mosaics import check_mosaic_exists
from skyqa.checks.seams import (
    check_oracle_agreement,
    check_overlaps_connected,
    check_score_below,
    check_seam_free,
)
from skyqa.checks.sky import (
    check_globalmin,
    check_globalmin_plus_match,
    check_match_levels,
    check_mdrizsky_finite,
    check_no_sky_fallback,
    check_pedestals_recovered,
    fallback_note,
)
from skyqa.columns import column_outlier
from skyqa.drizzle import Mosaic

NAN = math.nan
LOG = """
Traceback (most recent call last):
AttributeError: 'SphericalPolygon' object has no attribute 'iter_polygons_flat'
[WARNING ] Reverting sky computation to "localmin" from "match
[INFO    ] Applying sky value of 0.875744 to isqa01a1q_flt.fits[sci,1]
[INFO    ] Applying sky value of 0.000000 to isqa01a2q_flt.fits[sci,1]
"""


def _plain(verdicts, folder=None) -> list[dict]:
    """Verdicts as YAML-able rows, with their sentence; ``folder`` written as <tmp>."""
    rows = []
    for verdict in verdicts:
        row = dataclasses.asdict(verdict)
        for key in ("value", "limit"):
            if row[key] is not None:
                row[key] = "nan" if math.isnan(row[key]) else round(float(row[key]), 9)
        row["sentence"] = verdict.message()
        if folder is not None:
            row = {
                key: value.replace(str(folder), "<tmp>") if isinstance(value, str) else value
                for key, value in row.items()
            }
        rows.append(row)
    return rows


def _sky(values):
    return pd.DataFrame({"rootname": list(values), "mdrizsky_e_s": list(values.values())})


def test_alignment_messages(tmp_path, data_regression):
    shift_file = tmp_path / "shift_drz.txt"
    shift_file.write_text(
        "ibxl50030_drz.fits 0.1 0.2 0.01 1.0001 0.05 0.06\n"
        "ibxl51030_drz.fits nan nan nan nan nan nan\n"
        "ibxl99030_drz.fits 0.1 0.2 0.01 1.0001 0.05 0.06\n"
    )
    fit = pd.DataFrame(
        {
            "image": [
                "ibxl50030_drz.fits",
                "ibxl51030_drz.fits",
                "ibxl52030_drz.fits",
                "ibxl52030_drz.fits",
            ],
            "xrms_pix": [0.05, NAN, 0.3, 0.3],
            "yrms_pix": [0.06, NAN, 0.1, 0.1],
            "n_matches": [12, NAN, 3, 3],
        }
    )
    residuals = pd.DataFrame(
        {
            "image": ["ibxl50030_drz.fits", "ibxl51030_drz.fits"],
            "xsh_pix": [0.01, 0.3], "ysh_pix": [0.0, NAN], "rot_deg": [359.999, 0.01],
            "scale": [1.00001, 0.9996], "xrms_pix": [0.0, 0.0], "yrms_pix": [0.0, 0.0],
        }
    )  # fmt: skip
    moves = pd.DataFrame(
        {
            "visit": ["isqa01030"] * 4,
            "flt": [
                "isqa01a1q_flt.fits",
                "isqa01a2q_flt.fits",
                "isqa01a3q_flt.fits",
                "isqa01a3q_flt.fits",
            ],
            "moved_mas": [500.0, 0.0, NAN, NAN],
            "correction_mas": [500.0, 500.0, 500.0, 500.0],
            "disagreement_mas": [0.5, 500.0, NAN, NAN],
            "drz_wcsnamea": ["IDC_w3m18525i"] * 4,
        }
    )
    offsets = pd.DataFrame(
        {
            "visit": ["v"] * 5,
            "rootname": ["a", "b", "c", "c", "d"],
            "rms_mas": [2.0, 30.0, NAN, NAN, 12.0],
            "fit_claim_mas": [4.0, 4.0, 4.0, 4.0, math.inf],
            "n_stars": [6, 6, 6, 6, 2],
            "dof": [8, 8, 8, 8, 0],
            "pixel_scale_mas": [128.3] * 5,
        }
    )
    data_regression.check(
        {
            "shift_file": _plain(
                check_shift_file(shift_file, ["ibxl50030_drz.fits", "ibxl51030_drz.fits"]),
                tmp_path,
            ),
            "shift_file_missing": _plain(check_shift_file(tmp_path / "none.txt", []), tmp_path),
            "fit_quality": _plain(check_fit_quality(fit, 0.2, 4)),
            "residuals": _plain(check_residuals(residuals, 0.1, 0.005, 2e-4)),
            "tweakback": _plain(check_tweakback(moves, 5.0)),
            "truth": _plain(
                check_wcs_against_truth(
                    offsets, ErrorBudget(5.0, 0.02, 2.0), AstrometryGrades(10.0, 20.0)
                )
            ),
        }
    )


def test_sky_messages(data_regression):
    pedestals = {"a": 0.80, "b": 0.83, "c": 0.78, "d": 0.79}
    matched = _sky({"a": 0.30, "b": 0.36, "c": NAN})
    localmin = _sky({"a": 1.1, "b": 1.2, "c": 0.78, "d": 0.9})
    headers = _sky({"isqa01a1q": 0.0, "isqa01a2q": NAN, "isqa01a3q": 0.1})
    data_regression.check(
        {
            "mdrizsky_finite": _plain(check_mdrizsky_finite(_sky({"a": 0.1, "b": NAN}), "match")),
            "pedestals": _plain(
                check_pedestals_recovered(matched, pedestals, 0.01, "match", localmin)
            ),
            "fallback": _plain(check_no_sky_fallback(LOG, headers, "match", 1e-6, "drz.log")),
            "fallback_note": fallback_note(LOG, "match"),
            "match_levels": _plain(
                check_match_levels(
                    _sky({"a": 0.01, "b": -0.02, "c": 0.3, "d": NAN}), "match", 0.1, 1e-5
                )
            ),
            "match_levels_empty": _plain(check_match_levels(_sky({}), "match", 0.1, 1e-5)),
            "globalmin": _plain(
                check_globalmin(_sky({"a": 0.8, "b": 0.85, "e": 0.8}), localmin, 1e-5)
            ),
            "globalmin_plus_match": _plain(
                check_globalmin_plus_match(
                    _sky({"a": 0.7, "b": 0.75, "c": NAN}),
                    _sky({"a": 0.0, "b": 0.02, "d": 0.0}),
                    1e-5,
                )
            ),
        }
    )


def test_seam_messages(data_regression):
    seams = pd.DataFrame(
        {
            "exposure_a": ["a", "a", "b"], "exposure_b": ["b", "c", "c"],
            "n_pixels": [5000, 900, 4000], "raw_median_e_s": [0.01, 0.0, NAN],
            "uncertainty_e_s": [1e-4, 0.0025, 1e-4], "pixel_noise_e_s": [0.05, 0.05, 0.05],
            "match": [0.2, 0.12, NAN], "localmin": [1.0, 0.5, 0.3],
        }
    )  # fmt: skip
    pairs = seams[["exposure_a", "exposure_b", "raw_median_e_s", "uncertainty_e_s"]].iloc[:2]
    data_regression.check(
        {
            "seam_free": _plain(check_seam_free(seams, "match", 0.1)),
            "score_below": _plain(check_score_below(seams, "localmin", "match")),
            "oracle": _plain(
                check_oracle_agreement(
                    pairs, _sky({"a": 0.01, "b": 0.0, "c": 0.03}), "match", 0.005
                )
            ),
            "oracle_per_exposure": _plain(
                check_oracle_agreement(
                    pairs,
                    _sky({"a": 0.01, "b": 0.0, "c": 0.03}),
                    "match",
                    {"a": 0.002, "b": 0.02},
                )
            ),
            "connected": _plain(check_overlaps_connected(pairs, ["a", "b", "c", "d"])),
            "connected_stray": _plain(check_overlaps_connected(pairs, ["a", "b"])),
        }
    )


def test_inspection_file_and_mosaic_messages(tmp_path, data_regression):
    from astropy.io import fits

    headers = pd.DataFrame(
        {
            "FILENAME": ["a_flt.fits", "b_flt.fits", "c_flt.fits"],
            "ROOTNAME": ["A", "B", "C"], "DETECTOR": ["IR", "UVIS", "IR"],
            "FILTER": ["F160W", "F160W", "F140W"], "EXPTIME": [702.9, NAN, 0.0],
        }
    )  # fmt: skip
    delivered = pd.DataFrame(
        {
            "FILENAME": [
                "IBXL50030_drz.fits", "IBXL57030_drz.fits", "IBXL58030_drz.fits",
                "IBXL55030_drz.fits", "IBXL56030_drz.fits",
            ],
            "WCSNAME": [
                "IDC-FIT_REL_GSC242", "IDC-FIT_REL_GAIAeDR3", "IDC-FIT_REL_GAIAeDR3",
                "IDC-FIT_REL_GAIAeDR3", "IDC-FIT_REL_GAIAeDR3",
            ],
            "NMATCHES": [18, 12, 15, 9, 7], "RMS_RA": [67.0, 6.4, NAN, 12.0, 25.0],
            "RMS_DEC": [53.0, 6.4, 6.4, 9.0, 3.0],
        }
    )  # fmt: skip
    rng = np.random.default_rng(5)
    sci = 0.5 + rng.normal(0, 0.03, (64, 64))
    sci[:, 9] += 0.5
    fits.writeto(tmp_path / "f_drz_sci.fits", np.ones((4, 4), dtype=np.float32))
    fits.writeto(tmp_path / "f_drz_wht.fits", np.zeros((4, 4), dtype=np.float32))
    mosaic = Mosaic(
        "globalmin", tmp_path, tmp_path / "f_drz_sci.fits", tmp_path / "f_drz_missing.fits",
        tmp_path / "f_astrodrizzle.log", _sky({}),
    )  # fmt: skip
    (tmp_path / "x_flt.fits").write_bytes(b"changed")
    manifest = {"files": {"x_flt.fits": {"sha256": "0" * 64}, "y_flt.fits": {"sha256": "1" * 64}}}
    data_regression.check(
        {
            "uniform_setup": _plain(check_uniform_setup(headers)),
            "delivered_wcs": _plain(check_delivered_wcs(delivered, AstrometryGrades(10.0, 20.0))),
            "columns": _plain(
                column_verdict(
                    "isqa01a1q", *column_outlier(sci, np.zeros((64, 64), np.int16), 16), 10.0
                )
            ),
            "mosaic": _plain(check_mosaic_exists(mosaic), tmp_path),
            "inputs": _plain(check_inputs_untouched(tmp_path, manifest), tmp_path),
        }
    )


def test_issue17_check_messages(data_regression):
    """The stars on the catalog, the mosaics' pixels against their skies, and the
    pedestal check with per-exposure tolerances: passes, failures, too few stars, NaN,
    a duplicate row and no region at all."""
    from skyqa.checks.alignment import check_sources_on_catalog
    from skyqa.checks.mosaics import check_mosaic_sky

    offsets = pd.DataFrame(
        {
            "visit": ["v1", "v1", "v2", "v2", "v3"],
            "rootname": ["a", "b", "c", "d", "d"],
            "n_found": [30, 28, 12, 25, 25], "n_matched": [12, 11, 3, 9, 9],
            "east_mas": [3.0, 12.0, 0.5, NAN, 1.0], "north_mas": [4.0, -5.0, 0.5, 1.0, 1.0],
            "offset_mas": [5.0, 13.0, 0.7, NAN, 1.4],
            "uncertainty_mas": [1.5, 2.0, 4.0, 2.0, 1.0],
            "scatter_mas": [5.2, 6.6, 6.9, 6.0, 3.0],
        }
    )  # fmt: skip
    methods = ["localmin", "match", "globalmin+match", "globalmin"]
    errors = {"match": 0.006}  # match's pixels had 0.006 e-/s more sky removed
    rows = []
    for region, noise in (("e2+e3", 0.05), ("e1", NAN)):  # not in sorted order
        for i, a in enumerate(methods):
            for b in methods[i + 1 :]:
                predicted = 0.1 * (i + 1)
                rows.append(
                    {
                        "method_a": a, "method_b": b, "region": region, "n_pixels": 2000,
                        "measured_e_s": predicted + errors.get(a, 0.0) - errors.get(b, 0.0),
                        "predicted_e_s": predicted, "noise_e_s": noise,
                    }
                )  # fmt: skip
    regions = pd.DataFrame(rows)
    data_regression.check(
        {
            "sources": _plain(check_sources_on_catalog(offsets, AstrometryGrades(10.0, 20.0), 4)),
            "mosaic_sky_match": _plain(check_mosaic_sky(regions, "match", 0.1)),
            "mosaic_sky_localmin": _plain(check_mosaic_sky(regions, "localmin", 0.1)),
            "mosaic_sky_none": _plain(check_mosaic_sky(regions.iloc[0:0], "match", 0.1)),
            "pedestals_per_exposure": _plain(
                check_pedestals_recovered(
                    _sky({"a": 0.003, "b": -0.003, "c": 0.0}),
                    {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0},
                    {"a": 0.0035, "b": 0.0025, "d": 0.004},
                    "match",
                )
            ),
        }
    )


def _step_columns(*steps):
    """`STEP_COLUMNS` of pairs from (xa, ya, xb, yb) steps, each (step, uncertainty) or
    None (nothing measured), in e-/s."""
    from skyqa.steps import STEP_SPLITS

    columns: dict[str, list[float]] = {}
    for pair in steps:
        for split, value in zip(STEP_SPLITS, pair, strict=True):
            step, uncertainty = value if value is not None else (NAN, NAN)
            columns.setdefault(f"{split}_step_e_s", []).append(step)
            columns.setdefault(f"{split}_step_uncertainty_e_s", []).append(uncertainty)
    return columns


def test_issue31_exposure_messages(data_regression):
    """Each exposure's pairs judged together (mean, scatter, step), on one chip and on
    two, with passes, failures and NaN; and each exposure's own recorded-sky error."""
    from skyqa.checks.mosaics import check_exposure_sky
    from skyqa.checks.seams import check_exposure_seams
    from skyqa.pixels import REGION_COLUMNS

    seams = pd.DataFrame(
        {
            "exposure_a": ["a", "a", "a", "b"], "exposure_b": ["b", "c", "d", "c"],
            "n_pixels": [5000, 4000, 4000, 900], "raw_median_e_s": [0.0] * 4,
            "uncertainty_e_s": [1e-4, 2e-4, 2e-4, NAN], "pixel_noise_e_s": [0.05] * 4,
            "match": [0.15, -0.15, 0.05, NAN],
            **_step_columns(
                ((0.001, 2e-4), (0.012, 5e-4), None, (-0.001, 5e-4)),
                (None, (0.008, 1e-3), (0.0, 1e-3), (0.0, 1e-3)),
                (None, None, None, None),
                ((NAN, 1e-3), (0.0, 1e-3), None, None),
            ),
        }
    )  # fmt: skip
    chips = seams.iloc[:2].assign(chip_a=[1, 2], chip_b=[2, 1])
    regions = pd.DataFrame(
        [
            {"method_a": "localmin", "method_b": "match", "region": region, "n_pixels": 4000,
             "measured_e_s": 1.0 + excess, "predicted_e_s": 1.0, "noise_e_s": 0.05,
             "weights": weights}
            for region, weights, excess in (("a+b", "0.5;0.5", 0.004), ("b+c", "0.5;0.5", NAN))
        ],
        columns=REGION_COLUMNS,
    )  # fmt: skip
    data_regression.check(
        {
            "exposures": _plain(check_exposure_seams(seams, "match", 0.1)),
            "exposures_two_chips": _plain(check_exposure_seams(chips, "match", 0.1)),
            "exposure_sky": _plain(check_exposure_sky(regions, "match", 0.1)),
        }
    )
