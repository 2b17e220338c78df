"""A synthetic field's failed checks, held against its truth.

On a clean synthetic field a check that fails is either right (drizzlepac's result
really is off, by the injected values) or a fault of skyqa's own (its measurement or
threshold). `review_failures` recomputes, from ``truth.json`` and the pipeline's cached
results, the quantity each failed check judged, independently of the check's code path:

- a seam: the injected pedestals give each pair's true seam under the method's MDRIZSKY,
  ``-((sky_a - ped_a) - (sky_b - ped_b)) / noise`` (the common constant cancels);
- the pedestal-truth check: each exposure's MDRIZSKY - pedestal, less the mean;
- the oracle: drizzlepac's and skyqa's solutions, each against the injected pedestals;
- the WCS and the stars on the catalog: each aligned FLT's offset from its true mapping,
  recomputed from its header and the truth (not the placement stage's number), split into
  a shift and what is left (turn, scale, distortion), with the exposure's own pointing
  jitter (the part one fit per visit cannot remove).

`Review.confirmed` is True when the truth shows the failure (past the check's
threshold: for the seam check, at least one of its failed pairs, and the pairs whose
measurement overshot are named), False when it does not (the harness would be wrong),
None for a check with no truth comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skyqa.astrometry import wcs_from_header
from skyqa.checks.limits import CONSISTENCY_SIGMAS, budget_of
from skyqa.checks.seams import (
    check_exposure_seams,
    check_seam_free,
    exposure_seam_statistics,
    exposure_steps,
    pair_name,
    seam_subject,
    step_subject,
)
from skyqa.checks.sky import pedestal_tolerances
from skyqa.field import load_field_spec
from skyqa.headers import rootname_of
from skyqa.measure import parse_bits
from skyqa.oracle import solve_offsets
from skyqa.pipeline import Pipeline
from skyqa.simulate import load_truth, true_sky
from skyqa.sources import science_chips
from skyqa.verdict import failures

SKY_CHECKS = (
    "test_seam_free",
    "test_match_agrees_with_oracle",
    "test_match_recovers_injected_pedestals",
)
WCS_CHECKS = ("test_wcs_matches_truth", "test_sources_on_catalog")
HOLE_CHECK = "test_product_has_no_holes"


@dataclass(frozen=True)
class Review:
    """What the truth says about one failed check."""

    check: str
    confirmed: bool | None
    text: str

    def line(self) -> str:
        word = {True: "REAL", False: "NOT SHOWN BY THE TRUTH", None: "NO TRUTH COMPARISON"}
        return f"`{self.check}`: {word[self.confirmed]}: {self.text}"


def _residuals(mdrizsky, pedestals: dict[str, float]) -> dict[str, float]:
    """MDRIZSKY - injected pedestal per exposure, less their mean (the free constant)."""
    offsets = {
        row.rootname: float(row.mdrizsky_e_s) - pedestals[row.rootname]
        for row in mdrizsky.itertuples(index=False)
        if row.rootname in pedestals
    }
    constant = float(np.mean(list(offsets.values())))
    return {name: value - constant for name, value in offsets.items()}


def _exposure_truth(seams, residual, method: str, fraction: float, failed: set[str]):
    """The failed per-exposure seam verdicts (`check_exposure_seams`) held against the
    truth: each pair's true seam from the injected pedestals, the exposure's weighted mean
    and RMS scatter of them (no noise: the truth has none). Real when either is past the
    threshold."""

    true = seams.copy()
    true[method] = [
        -(residual[pair.exposure_a] - residual[pair.exposure_b]) / pair.pixel_noise_e_s
        for pair in seams.itertuples(index=False)
    ]
    lines, shown = [], []
    for row in exposure_seam_statistics(true, method).itertuples(index=False):
        subject = f"exposure {row.rootname} ({method}, {row.n_pairs} overlapping pairs)"
        if subject not in failed:
            continue
        values = np.array([seam for _, seam in row.pairs])
        scatter = float(np.sqrt(np.mean((values - row.mean) ** 2)))
        shown.append(abs(row.mean) > fraction or scatter > fraction)
        lines.append(
            f"exposure {row.rootname}: by the truth its pairs' mean seam {row.mean:+.3f}, "
            f"their scatter {scatter:.3f}"
        )
    return lines, shown


def _step_truth(seams, method: str, failed: set[str]) -> list[str]:
    """The failed step verdicts (`skyqa.checks.seams.exposure_steps`) held against the
    truth: a replica draws one pedestal an exposure, so none of them is shown."""

    lines = []
    for row in exposure_steps(seams).itertuples(index=False):
        if step_subject(row, method) not in failed:
            continue
        measured = ", ".join(
            f"{step:+.3f} across its middle {line}"
            for step, line in ((row.x_step, "column"), (row.y_step, "row"))
            if np.isfinite(step)
        )
        lines.append(
            f"exposure {row.rootname}: by the truth its sky is one pedestal across the "
            f"detector, no step (skyqa measured {measured})"
        )
    return lines


def _sky_review(check: str, name: str, method: str, pipeline, truth) -> Review:
    field = pipeline.field
    mosaics = pipeline.mosaics()
    pairs = pipeline.overlaps()
    residual = _residuals(mosaics[method].mdrizsky, truth.pedestals_e_s)
    fraction = field.thresholds.seam_max_noise_fraction
    furthest = sorted(residual.items(), key=lambda item: -abs(item[1]))[:2]
    off = ", ".join(f"{n} {v:+.5f} e-/s" for n, v in furthest)
    if name == "test_seam_free":
        seams = pipeline.seams()
        judged = [
            *check_seam_free(seams, method, fraction),
            *check_exposure_seams(seams, method, fraction),
        ]
        failed = {verdict.subject for verdict in failures(judged)}
        lines, shown = [], []
        for _, pair in seams.iterrows():
            if seam_subject(pair, method) not in failed:
                continue
            noise = pair.pixel_noise_e_s
            true_seam = -(residual[pair.exposure_a] - residual[pair.exposure_b]) / noise
            error = (pair[method] - true_seam) / (pair.uncertainty_e_s / noise)
            shown.append(abs(true_seam) > fraction)
            lines.append(
                f"{pair_name(pair)}: true seam {true_seam:+.3f} "
                f"(skyqa measured {pair[method]:+.3f}, {error:+.1f} x its uncertainty away)"
            )
        lines_e, shown_e = _exposure_truth(seams, residual, method, fraction, failed)
        steps = _step_truth(seams, method, failed)  # a replica has no step: none shown
        lines += lines_e + steps
        shown += shown_e + [False] * len(steps)
        unshown = len(shown) - sum(shown)
        note = (
            f" {unshown} of the {len(shown)} failed pairs or exposures are within the "
            "threshold by the truth (their measurement overshot it)."
            if unshown and any(shown)
            else ""
        )
        return Review(
            check,
            any(shown),
            f"by the injected pedestals, drizzlepac's {method} skies leave the failed pairs and "
            f"exposures these seams, x pixel noise (threshold {fraction}): "
            f"{'; '.join(lines)}.{note} "
            f"Exposures furthest from their pedestal: {off}.",
        )
    if name == "test_match_recovers_injected_pedestals":
        tolerances = pedestal_tolerances(pairs, fraction)
        past = {n: v for n, v in residual.items() if abs(v) > tolerances.get(n, np.nan)}
        return Review(
            check,
            bool(past),
            f"MDRIZSKY - pedestal (less the mean), recomputed: {off}; past half the seam "
            f"threshold of the exposure's noise: {', '.join(past) or 'none'}.",
        )
    # test_match_agrees_with_oracle: which of the two solutions is off from the truth?
    sky = mosaics[method].mdrizsky.set_index("rootname")["mdrizsky_e_s"].astype(float)
    oracle = solve_offsets(pairs, list(sky.index))
    pedestal = np.array([truth.pedestals_e_s[n] for n in sky.index])
    match_error = sky.to_numpy() - pedestal
    oracle_error = oracle.to_numpy() - pedestal
    match_error -= np.median(match_error)
    oracle_error -= np.median(oracle_error)
    tolerances = pedestal_tolerances(pairs, fraction)
    tolerance = np.array([tolerances.get(n, np.nan) for n in sky.index])
    return Review(
        check,
        bool(np.any(np.abs(match_error) > tolerance) and np.all(np.abs(oracle_error) <= tolerance)),
        f"against the injected pedestals (median removed), drizzlepac's {method} is off by "
        f"up to {np.max(np.abs(match_error)):.5f} e-/s, skyqa's least-squares solution by "
        f"up to {np.max(np.abs(oracle_error)):.5f} e-/s (tolerance half the seam threshold "
        f"of each exposure's noise, {np.nanmin(tolerance):.5f}-{np.nanmax(tolerance):.5f} e-/s).",
    )


def true_offsets(pipeline, truth, visit: str) -> list[dict]:
    """Each aligned FLT of ``visit`` against its true mapping, recomputed here (not the
    placement stage's number): on a 9 x 9 grid over the detector, the RMS offset (mas),
    its mean (the shift part) and the RMS left about the mean (the turn, the scale and the
    distortion residual); with the exposure's own pointing jitter."""
    from astropy.io import fits

    aligned = {path.name[:9]: path for path in pipeline.alignment().aligned_flt_paths}
    rows = []
    for geometry in truth.exposures:
        if geometry.asn_id.lower() != visit or geometry.rootname not in aligned:
            continue
        header = fits.getheader(aligned[geometry.rootname], ("SCI", geometry.extver))
        rows_, columns = geometry.rows_columns
        x, y = (
            axis.ravel()
            for axis in np.meshgrid(np.linspace(0, columns - 1, 9), np.linspace(0, rows_ - 1, 9))
        )
        ra, dec = wcs_from_header(header).all_pix2world(x, y, 0)
        true_ra, true_dec = true_sky(
            wcs_from_header(geometry.wcs_header("true")), x, y, truth.distortion, geometry.ltv
        )
        east = (ra - true_ra) * np.cos(np.deg2rad(true_dec)) * 3.6e6
        north = (dec - true_dec) * 3.6e6
        rows.append(
            {
                "rootname": geometry.rootname,
                **({"chip": geometry.chip} if geometry.shape[0] else {}),
                "rms_mas": float(np.sqrt(np.mean(east**2 + north**2))),
                "shift_mas": float(np.hypot(east.mean(), north.mean())),
                "rest_mas": float(
                    np.sqrt(np.mean((east - east.mean()) ** 2 + (north - north.mean()) ** 2))
                ),
                "jitter_mas": float(np.hypot(*geometry.jitter_mas)),
            }
        )
    return rows


def _predicted_mas(pipeline, visit: str) -> dict[str, float]:
    """Each exposure's predicted error (mas) in ``visit`` (`skyqa.checks.alignment`), by
    rootname: the largest over its chips."""

    budget = budget_of(pipeline.field.thresholds)
    table = pipeline.placement().truth
    predicted: dict[str, float] = {}
    for row in table[table["visit"] == visit].itertuples(index=False):
        value = budget.predicted_mas(float(row.fit_claim_mas), float(row.pixel_scale_mas))
        predicted[row.rootname] = max(value, predicted.get(row.rootname, 0.0))
    return predicted


def _wcs_review(check: str, name: str, visit: str, pipeline, truth) -> Review:
    limit = pipeline.field.thresholds.astrometry_accepted_mas
    rows = true_offsets(pipeline, truth, visit)
    predicted = _predicted_mas(pipeline, visit) if name == WCS_CHECKS[0] else {}
    beyond = [
        row["rms_mas"] > limit
        or row["rms_mas"] > CONSISTENCY_SIGMAS * predicted.get(row["rootname"], np.inf)
        for row in rows
    ]
    parts = [
        f"{row['rootname']} {row['rms_mas']:.1f} mas RMS from its true mapping (a shift of "
        f"{row['shift_mas']:.1f} mas, {row['rest_mas']:.1f} mas RMS of turn, scale and "
        f"distortion about it; its own pointing jitter {row['jitter_mas']:.1f} mas)"
        for row in rows
    ]
    consistency = (
        f", or beyond {CONSISTENCY_SIGMAS:g} x its predicted error "
        + ", ".join(f"{name} {value:.1f} mas" for name, value in predicted.items())
        if predicted
        else ""
    )
    return Review(
        check,
        any(beyond),
        "recomputed from the aligned headers and the true WCS: "
        + "; ".join(parts)
        + f" (a failure beyond HAP's accepted {limit} mas{consistency}).",
    )


def _hole_review(check: str, method: str, pipeline) -> Review:
    """The product's largest hole against the inputs' DQ, the replica's injected defects:
    shown when every exposure whose chip covers its centre flags that pixel outside
    final_bits (the dither pattern did not cover the defect), not shown when one has
    good data there (drizzle dropped it)."""
    row, _ = pipeline.products().of(method)
    if row is None or not np.isfinite(row["hole_ra"]):
        return Review(check, False, f"the {method} mosaic has no hole to review")
    bits = parse_bits(pipeline.field.astrodrizzle.final_bits)
    flagged: list[str] = []
    good: list[str] = []
    for path, primary, header, data, dq, _err, chip in science_chips(
        pipeline.alignment().aligned_flt_paths
    ):
        position = wcs_from_header(header).all_world2pix(
            row["hole_ra"], row["hole_dec"], 0, quiet=True
        )
        x, y = (round(float(value)) for value in position)
        if 0 <= y < data.shape[0] and 0 <= x < data.shape[1]:
            name = rootname_of(primary, path) + (f":{chip}" if chip else "")
            (flagged if dq[y, x] & ~bits else good).append(f"{name} DQ {int(dq[y, x])}")
    where = f"its centre (RA {row['hole_ra']:.6f}, Dec {row['hole_dec']:.6f})"
    if good:
        return Review(
            check, False, f"{', '.join(good)} covers {where} with good data: drizzle dropped it"
        )
    return Review(
        check,
        True,
        f"every exposure that covers {where} flags it outside final_bits "
        f"({', '.join(flagged) or 'none covers it'}): the dither pattern does not cover "
        "the detectors' defects there",
    )


def review_failures(pipeline, failed: Sequence[str], truth=None) -> list[Review]:
    """`Review` of each failed check id (``name[field-param]``) of a synthetic field,
    from the cached results of ``pipeline`` (a `skyqa.pipeline.Pipeline` of the field:
    what it needs is built if it is not cached) and its truth (`skyqa.simulate.Truth`;
    default: the field's ``truth.json``)."""

    if truth is None:
        truth = load_truth(pipeline.exposures().truth_path)
    prefix = f"{pipeline.field.name}-"
    reviews = []
    for check in failed:
        name, _, rest = check.partition("[")
        param = rest.rstrip("]").removeprefix(prefix)
        if name in SKY_CHECKS:
            reviews.append(_sky_review(check, name, param, pipeline, truth))
        elif name in WCS_CHECKS:
            reviews.append(_wcs_review(check, name, param, pipeline, truth))
        elif name == HOLE_CHECK:
            reviews.append(_hole_review(check, param, pipeline))
        else:
            reviews.append(Review(check, None, "read its verdicts"))
    return reviews


def review_session(spec_path: Path, cache_dir: Path, failed: Sequence[str]) -> list[Review]:
    """`review_failures` for a field spec file and the cache its session used."""

    field = load_field_spec(spec_path)
    with Pipeline(field, cache_dir, progress=lambda message: None, workers=1) as pipeline:
        return review_failures(pipeline, failed)
