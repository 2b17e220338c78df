"""Where the aligned WCSs put the sky, measured on pixel grids.

Two measurements of the alignment's products, made once per alignment (a cached stage,
built beside the mosaics) and judged by the checks:

- tweakback's transfer: each FLT must move on the sky as its visit DRZ moved
  (`tweakback_moves`; a tweakback that did nothing leaves the FLT where it was);
- on synthetic fields, the aligned FLT WCS against the injected true WCS
  (`truth_offset_mas`), beside what the visit's fit claims of its own error there
  (`skyqa.accuracy.fit_error_mas`), so that the truth can tell a fit that is as good as it
  says from one that is not.

Offsets are RMS over a grid of detector pixels, through the full WCS (with SIP), in
milliarcseconds.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.accuracy import fit_error_mas, visit_claim
from skyqa.align import AlignmentResult, drz_members, match_file
from skyqa.headers import chip_name, sci_headers
from skyqa.names import visit_of
from skyqa.simulate import true_sky

if TYPE_CHECKING:
    from astropy.wcs import WCS

MAS_PER_DEG = 3.6e6
TWEAKBACK_COLUMNS = [
    "visit",
    "flt",
    "moved_mas",
    "correction_mas",
    "disagreement_mas",
    "drz_wcsnamea",
]
TRUTH_COLUMNS = [
    "visit",
    "rootname",
    "rms_mas",
    "fit_claim_mas",
    "n_stars",
    "dof",
    "pixel_scale_mas",
]
TWEAKBACK_TABLE = "tweakback_moves.csv"
TRUTH_TABLE = "truth_offsets.csv"


def wcs_from_header(header: fits.Header) -> WCS:
    """The primary WCS of a header (with SIP), without astropy's 'fixed' chatter."""
    from astropy.wcs import WCS, FITSFixedWarning  # here: a warm QA run builds no WCS

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        return WCS(header)


def _grid(header: fits.Header, step_fraction: float = 0.125) -> tuple[np.ndarray, np.ndarray]:
    size_x = header.get("NAXIS1") or 2 * header["CRPIX1"]
    size_y = header.get("NAXIS2") or 2 * header["CRPIX2"]
    xs = np.linspace(0, size_x - 1, int(1 / step_fraction) + 1)
    ys = np.linspace(0, size_y - 1, int(1 / step_fraction) + 1)
    grid_x, grid_y = np.meshgrid(xs, ys)
    return grid_x.ravel(), grid_y.ravel()


def _rms_offset_mas(ra1, dec1, ra2, dec2) -> float:
    offsets = np.hypot((ra1 - ra2) * np.cos(np.deg2rad(dec2)), dec1 - dec2) * MAS_PER_DEG
    return float(np.sqrt(np.mean(offsets**2)))


def tweakback_moves(
    visit: str,
    drz_before: fits.Header,
    drz_after: fits.Header,
    flt_before: Mapping[str, fits.Header],
    flt_after: Mapping[str, fits.Header],
) -> list[dict]:
    """How each FLT's WCS moved on the sky, against how its visit DRZ's WCS moved.

    On a grid over each FLT, the position given by the FLT's WCS after tweakback is
    compared with where the DRZ's correction sends the position given by the FLT's WCS
    before: ``WCS_drz_after(WCS_drz_before^-1(WCS_flt_before(pixel)))``.

    Parameters
    ----------
    visit : str
        The visit id.
    drz_before, drz_after : Header
        The visit DRZ's SCI header before and after TweakReg updated it.
    flt_before, flt_after : mapping
        FLT file name -> SCI header before and after tweakback.

    Returns
    -------
    list of dict
        One row per FLT (`TWEAKBACK_COLUMNS`): RMS over the FLT of its own move
        (``moved_mas``), of the DRZ's correction (``correction_mas``) and of the
        difference between the two (``disagreement_mas``); and the DRZ's WCSNAMEA (the
        WCSNAME tweakback must be told was the original).
    """
    drz_old, drz_new = wcs_from_header(drz_before), wcs_from_header(drz_after)
    rows = []
    for name, before in flt_before.items():
        old, new = wcs_from_header(before), wcs_from_header(flt_after[name])
        x, y = _grid(before)
        ra_old, dec_old = old.all_pix2world(x, y, 0)
        ra_new, dec_new = new.all_pix2world(x, y, 0)
        drz_x, drz_y = drz_old.all_world2pix(ra_old, dec_old, 0)
        ra_expected, dec_expected = drz_new.all_pix2world(drz_x, drz_y, 0)
        rows.append(
            {
                "visit": visit,
                "flt": name,
                "moved_mas": _rms_offset_mas(ra_new, dec_new, ra_old, dec_old),
                "correction_mas": _rms_offset_mas(ra_expected, dec_expected, ra_old, dec_old),
                "disagreement_mas": _rms_offset_mas(ra_new, dec_new, ra_expected, dec_expected),
                "drz_wcsnamea": str(drz_after.get("WCSNAMEA", "?")),
            }
        )
    return rows


def truth_offset_mas(
    aligned_header: fits.Header,
    true_header: fits.Header,
    distortion: Sequence[dict] = (),
    ltv: tuple[float, float] = (0.0, 0.0),
) -> float:
    """RMS (mas) over the detector between an aligned WCS and the true mapping.

    The true mapping is the true SIP WCS after the detector's residual distortion
    (`skyqa.simulate.distortion_residual`, full-frame pixels: the subarray's pixel less
    ``ltv``): a pixel at ``p`` sees the sky the SIP WCS puts at ``p - residual(p)``.
    """

    aligned, true = wcs_from_header(aligned_header), wcs_from_header(true_header)
    x, y = _grid(true_header, step_fraction=1 / 32)
    ra, dec = aligned.all_pix2world(x, y, 0)
    true_ra, true_dec = true_sky(true, x, y, distortion, ltv)
    return _rms_offset_mas(ra, dec, true_ra, true_dec)


@dataclass(frozen=True)
class AlignmentPlacement:
    """The alignment's WCSs measured on the sky (`measure_alignment`).

    ``tweakback``: one row per FLT (`TWEAKBACK_COLUMNS`). ``truth``: synthetic fields,
    one row per FLT (`TRUTH_COLUMNS`); None for real data.
    """

    tweakback: pd.DataFrame
    truth: pd.DataFrame | None

    def to_record(self, directory: Path) -> dict:
        """Write the tables into ``directory``; their file names (JSON-able)."""
        self.tweakback.to_csv(directory / TWEAKBACK_TABLE, index=False)
        record = {"tweakback": TWEAKBACK_TABLE, "truth": None}
        if self.truth is not None:
            self.truth.to_csv(directory / TRUTH_TABLE, index=False)
            record["truth"] = TRUTH_TABLE
        return record

    @classmethod
    def from_record(cls, directory: Path, record: dict) -> AlignmentPlacement:
        """Read what `to_record` wrote."""
        text = {"visit": str, "flt": str, "rootname": str, "drz_wcsnamea": str}
        truth = record["truth"]
        return cls(
            pd.read_csv(directory / record["tweakback"], dtype=text),
            None if truth is None else pd.read_csv(directory / truth, dtype=text),
        )


def _pixel_scale_mas(wcs: WCS) -> float:
    """The mean pixel scale (mas) of a WCS at its reference pixel."""
    return float(np.sqrt(abs(np.linalg.det(wcs.pixel_scale_matrix))) * MAS_PER_DEG)


def measure_alignment(
    alignment: AlignmentResult, truth=None, fitgeometry: str = "rscale"
) -> AlignmentPlacement:
    """`tweakback_moves` of every FLT of every visit DRZ, and, given the injected truth
    (`skyqa.simulate.Truth`), `truth_offset_mas` of every aligned FLT with its visit fit's
    claim there (`skyqa.accuracy.fit_error_mas` on the same grid, for TweakReg's
    ``fitgeometry``; the number of matched stars and the fit's degrees of freedom)."""

    # Each FLT's SCI headers after tweakback (every chip: `chip_name`), read once for both.
    aligned = sci_headers(alignment.aligned_flt_paths)
    rows = []
    for drz in alignment.visit_drz_paths:
        members = [
            chip
            for name in drz_members(drz)
            for chip in aligned
            if chip == name or chip.startswith(f"{name}[")
        ]
        rows += tweakback_moves(
            visit_of(drz.name),
            alignment.headers_before_update(drz.name),
            fits.getheader(drz, ("SCI", 1)),
            {name: alignment.headers_before_update(name) for name in members},
            {name: aligned[name] for name in members},
        )
    tweakback = pd.DataFrame(rows, columns=TWEAKBACK_COLUMNS)
    if truth is None:
        return AlignmentPlacement(tweakback, None)
    files = {path.name[:9]: path.name for path in alignment.aligned_flt_paths}
    chips = any(geometry.shape[0] for geometry in truth.exposures)
    claims = {
        visit_of(drz.name): visit_claim(match_file(alignment.directory, drz), fitgeometry)
        for drz in alignment.visit_drz_paths
    }
    truth_rows = []
    for geometry in truth.exposures:
        header = aligned[chip_name(files[geometry.rootname], geometry.extver)]
        wcs = wcs_from_header(header)
        claim = claims[geometry.asn_id.lower()]
        truth_rows.append(
            {
                "visit": geometry.asn_id.lower(),
                "rootname": geometry.rootname,
                "rms_mas": truth_offset_mas(
                    header, geometry.wcs_header("true"), truth.distortion, geometry.ltv
                ),
                "fit_claim_mas": fit_error_mas(claim, *wcs.all_pix2world(*_grid(header), 0)),
                "n_stars": claim.n_stars,
                "dof": claim.dof,
                "pixel_scale_mas": _pixel_scale_mas(wcs),
                **({"chip": geometry.chip} if chips else {}),
            }
        )
    columns = [*TRUTH_COLUMNS, "chip"] if chips else TRUTH_COLUMNS
    return AlignmentPlacement(tweakback, pd.DataFrame(truth_rows, columns=columns))
