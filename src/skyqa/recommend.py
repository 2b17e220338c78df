"""Which sky method suits a field, and why: the tutorial's question ("localmin for blank
sky, match for extended emission") answered with the field's own evidence.

Every drizzled method is judged on the same evidence, in units of the pixel noise, by the
checks' own rules (`skyqa.checks`): its seams over all overlapping pairs (worst and
RMS), its distance from skyqa's least-squares overlap solution (the oracle), how well its
mosaic holds the sky it recorded, on the two-chip CCDs the fraction of pixels its
cosmic-ray step flagged, and on replicas its distance from the injected pedestals. A
method is *fit* when it passes each of those rules (and its product's checks, where the
session ran them); the fit methods are ranked by their RMS seam, then their worst seam.
Methods whose skies differ by one constant (``match`` and ``globalmin+match``) have the
same seams and rank together.

The rule of thumb is measured too (`skyqa.emission`): an exposure more than half covered
by extended emission has its ``localmin`` sky (a clipped median) in the emission, so the
rule says ``match`` as soon as one exposure is; ``localmin`` where none is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from skyqa.checks.chips import check_cosmic_ray_rejection
from skyqa.checks.mosaics import check_exposure_sky
from skyqa.checks.seams import check_exposure_seams, check_oracle_agreement, check_seam_free
from skyqa.checks.sky import check_pedestals_recovered, pedestal_tolerances
from skyqa.oracle import seam_score
from skyqa.simulate import load_truth
from skyqa.verdict import Verdict

MATCH_FAMILY = ("match", "globalmin+match")
EVIDENCE = ("seams", "oracle", "recorded sky", "cosmic rays", "pedestal truth")
"""The evidence each method is judged on, in the order a reason names it."""


def _in_noise(verdicts: list[Verdict], noise_fraction: float) -> float:
    """The largest |value| of verdicts whose limit is ``noise_fraction`` of a noise, in
    units of that noise (a NaN value counts as inf)."""
    worst = 0.0
    for verdict in verdicts:
        if verdict.value is None or verdict.limit is None or verdict.limit <= 0:
            continue
        value = abs(verdict.value) if math.isfinite(verdict.value) else math.inf
        worst = max(worst, value / verdict.limit * noise_fraction)
    return worst


def _judged(
    method: str,
    mosaic,
    seams: pd.DataFrame,
    pairs: pd.DataFrame,
    skies: pd.DataFrame | None,
    pedestals: Mapping[str, float] | None,
    seam_fraction: float,
    cosmic_ray_limits: tuple[float, float],
    tolerances: Mapping[str, float],
) -> dict[str, list[Verdict]]:
    """A method's verdicts by the checks' own rules, by the evidence they are
    (``tolerances``: each exposure's sky tolerance, `pedestal_tolerances`)."""
    judged: dict[str, list[Verdict]] = {
        "seams": [
            *check_seam_free(seams, method, seam_fraction),
            *check_exposure_seams(seams, method, seam_fraction),
        ],
        "oracle": check_oracle_agreement(pairs, mosaic.mdrizsky, method, tolerances),
    }
    if skies is not None:
        judged["recorded sky"] = check_exposure_sky(skies, method, seam_fraction)
    if getattr(mosaic, "cosmic_rays", None) is not None and len(mosaic.cosmic_rays):
        judged["cosmic rays"] = check_cosmic_ray_rejection(
            mosaic.cosmic_rays, method, *cosmic_ray_limits
        )
    if pedestals:
        judged["pedestal truth"] = check_pedestals_recovered(
            mosaic.mdrizsky, pedestals, tolerances, method
        )
    return judged


def method_evidence(
    mosaics: Mapping,
    pairs: pd.DataFrame,
    seams: pd.DataFrame,
    skies: pd.DataFrame | None,
    seam_fraction: float,
    cosmic_ray_limits: tuple[float, float],
    pedestals: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Each method's evidence (one row per method, in the mosaics' order).

    Parameters
    ----------
    mosaics : mapping
        Sky method -> `skyqa.drizzle.Mosaic`.
    pairs, seams : pandas.DataFrame
        The overlap measurements (`skyqa.measure`), and their seams by method (`seam_table`).
    skies : pandas.DataFrame or None
        The mosaics' sky regions (`skyqa.pixels`); None where not measured.
    seam_fraction : float
        The seam threshold (x pixel noise); half of it is each sky's tolerance.
    cosmic_ray_limits : (float, float)
        The fraction of flagged pixels a chip may have (the CCDs).
    pedestals : mapping, optional
        Rootname -> injected pedestal (e-/s), on replicas.

    Returns
    -------
    pandas.DataFrame
        ``method``, ``worst_seam``, ``rms_seam``, ``oracle``, ``recorded_sky``, ``truth``
        (x noise; NaN where not measured), ``cosmic_ray_max`` (NaN on one chip), ``failed``.
    """
    half, rows = seam_fraction / 2, []
    limits = (seam_fraction, cosmic_ray_limits, pedestal_tolerances(pairs, seam_fraction))
    for method, mosaic in mosaics.items():
        judged = _judged(method, mosaic, seams, pairs, skies, pedestals, *limits)
        if len(mosaics) < 2:
            judged.pop("recorded sky", None)
        column = seams[method].to_numpy(dtype=float)
        cosmic = judged.get("cosmic rays", [])
        rows.append(
            {
                "method": method,
                "worst_seam": float(np.max(np.abs(column))) if len(column) else math.nan,
                "rms_seam": seam_score(seams, method),
                "oracle": _in_noise(judged["oracle"], half),
                "recorded_sky": _in_noise(judged["recorded sky"], seam_fraction)
                if "recorded sky" in judged
                else math.nan,
                "cosmic_ray_max": max((float(v.value or 0.0) for v in cosmic), default=math.nan),
                "truth": _in_noise(judged["pedestal truth"], half)
                if "pedestal truth" in judged
                else math.nan,
                "failed": [
                    name for name, verdicts in judged.items() if not all(v.passed for v in verdicts)
                ],
            }
        )
    return pd.DataFrame(rows)


def rule_of_thumb(emission: pd.DataFrame) -> dict:
    """The field's extended emission and what the rule of thumb says of it.

    ``fraction``: the share of all exposures' blocks in emission; ``over_half``: the
    exposures of which a chip is more than half in emission; ``says``: ``"match"`` if
    any is, else ``"localmin"``.
    """
    blocks = emission["n_blocks"].to_numpy(dtype=float)
    fractions = emission["emission_fraction"].to_numpy(dtype=float)
    known = np.isfinite(fractions) & (blocks > 0)
    fraction = (
        float(np.sum(fractions[known] * blocks[known]) / np.sum(blocks[known]))
        if np.any(known)
        else math.nan
    )
    over = sorted(set(emission.loc[emission["emission_fraction"] > 0.5, "rootname"]))
    return {
        "fraction": fraction,
        "exposures": int(emission["rootname"].nunique()),
        "over_half": len(over),
        "says": "match" if over else "localmin",
    }


def recommend(
    evidence: pd.DataFrame,
    emission: pd.DataFrame | None = None,
    product_verdicts: Mapping[str, str] | None = None,
) -> dict:
    """The recommended sky method(s), the ranking, and whether the rule of thumb agrees.

    Parameters
    ----------
    evidence : pandas.DataFrame
        `method_evidence`.
    emission : pandas.DataFrame, optional
        `skyqa.emission.emission_table`, for the rule of thumb.
    product_verdicts : mapping, optional
        Method -> its product's verdict in the session (`skyqa.summary.product_verdicts`):
        a method whose product failed is not fit, whatever its evidence.

    Returns
    -------
    dict
        ``recommended`` (methods, best first; those ranked together), ``methods`` (each
        method's evidence, ``fit`` and ``reasons``, ranked), ``emission`` (the rule of
        thumb), ``agrees`` and ``sentence``.
    """
    methods = [
        _method_record(row, (product_verdicts or {}).get(row.method))
        for row in evidence.itertuples(index=False)
    ]

    def rank(method: dict) -> tuple:
        return (not method["fit"], _or_inf(method["rms_seam"]), _or_inf(method["worst_seam"]))

    methods.sort(key=rank)
    fit = [m for m in methods if m["fit"]]
    best = [m["method"] for m in fit if rank(m)[1:] == rank(fit[0])[1:]] if fit else []
    thumb = rule_of_thumb(emission) if emission is not None and len(emission) else None
    localmin = next((m for m in methods if m["method"] == "localmin"), None)
    agrees = None
    if thumb is not None and localmin is not None:
        agrees = (thumb["says"] == "localmin") == localmin["fit"]
    return {
        "recommended": best,
        "methods": methods,
        "emission": thumb,
        "agrees": agrees,
        "sentence": _sentence(best, methods, thumb, agrees),
    }


def _method_record(row, product_verdict: str | None) -> dict:
    """One method's evidence as `recommend` reports it (non-finite values as None)."""
    failed = list(row.failed)
    if product_verdict in ("failed", "error"):
        failed.append(f"its product's checks ({product_verdict})")
    numbers = ("worst_seam", "rms_seam", "oracle", "recorded_sky", "truth", "cosmic_ray_max")
    return {
        "method": row.method,
        "fit": not failed,
        "failed": failed,
        **{
            name: None if not math.isfinite(value) else round(float(value), 6)
            for name, value in ((name, getattr(row, name)) for name in numbers)
        },
    }


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def _describe(method: dict) -> str:
    parts = [f"worst seam {method['worst_seam']:.3f}, RMS {method['rms_seam']:.3f} x noise"]
    if method["oracle"] is not None:
        parts.append(f"{method['oracle']:.3f} x noise from the oracle beyond its uncertainty")
    if method["truth"] is not None:
        parts.append(f"{method['truth']:.3f} x noise from the injected pedestals")
    if method["cosmic_ray_max"] is not None:
        parts.append(
            f"up to {100 * method['cosmic_ray_max']:.1f} % of a chip flagged as cosmic rays"
        )
    text = ", ".join(parts)
    return text + ("" if method["fit"] else f"; unfit: fails {', '.join(method['failed'])}")


def _sentence(best: list[str], methods: list[dict], thumb: dict | None, agrees: bool | None) -> str:
    """The recommendation as a paragraph a person reads."""
    if best:
        head = f"Recommended: {' and '.join(best)}"
        if len(best) > 1:
            head += " (the same seams: their skies differ by one constant)"
        lead = next(m for m in methods if m["method"] == best[0])
        text = f"{head}: {_describe(lead)}."
    else:
        text = "No drizzled sky method passes the evidence on this field."
    also = [m for m in methods if m["method"] not in best and m["fit"]]
    if also:
        text += " Also fit: " + "; ".join(f"{m['method']} ({_describe(m)})" for m in also) + "."
    unfit = [m for m in methods if not m["fit"]]
    if unfit:
        text += " " + "; ".join(f"{m['method']}: {_describe(m)}" for m in unfit) + "."
    if thumb is not None:
        text += (
            f" Extended emission covers {100 * thumb['fraction']:.0f} % of the exposures "
            f"({thumb['over_half']} of {thumb['exposures']} more than half covered): the rule "
            f"of thumb says {thumb['says']}"
        )
        if agrees is not None:
            text += ", and the evidence agrees." if agrees else ", and the evidence does not agree."
        else:
            text += "."
    return text


def field_recommendation(
    pipeline, product_verdicts: Mapping[str, str] | None = None
) -> dict | None:
    """`recommend` for a field from what its pipeline has computed (the mosaics and the
    overlaps, the sky regions where measured, the injected pedestals of a replica); the
    emission is measured here if it is not cached. None where the mosaics or the overlaps
    were not made (a partial run)."""

    results = pipeline.computed()
    mosaics, pairs = results.mosaics, results.overlaps
    if not mosaics or pairs is None or results.seams is None:
        return None
    field = pipeline.field
    pedestals = None
    truth_path = results.exposures.truth_path if results.exposures is not None else None
    if truth_path is not None:
        pedestals = load_truth(truth_path).pedestals_e_s
    limits = field.thresholds
    evidence = method_evidence(
        mosaics,
        pairs,
        results.seams,
        results.skies,
        limits.seam_max_noise_fraction,
        (limits.cosmic_ray_fraction_min, limits.cosmic_ray_fraction_max),
        pedestals,
    )
    return recommend(evidence, pipeline.emission(), product_verdicts)
