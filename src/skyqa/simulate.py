"""Synthetic WFC3/IR fields with known truth, generated offline from a seed.

`generate_synthetic_field` writes, for a field spec of kind ``synthetic``:

- one ``<rootname>_flt.fits`` per planned exposure, with the keyword set, extensions
  (SCI, ERR, DQ, SAMP, TIME) and units (ELECTRONS/S) of real WFC3/IR FLTs, the real SIP
  distortion of IDCTAB w3m18525i (``IDCTAB = 'N/A'``, so no reference file is needed),
  and a header WCS that carries a per-visit pointing error;
- one visit mosaic ``<asn_id>_drz.fits`` per visit, made by AstroDrizzle with
  ``build=True`` as the archive makes them (their ``D00nDATA`` keywords let tweakback
  find the FLTs, and the FLTs carry the visit drizzle's MDRIZSKY, as archive FLTs do);
- ``reference_catalog.ecsv``: a Gaia-like catalog, carried from its epoch to the
  exposures' with measured proper motions, so with Gaia DR3-like errors;
- ``truth.json``: every injected quantity (true and header WCS, pointing errors, sky
  pedestals, nebula, star counts, distortion residual, unflagged hits, catalog errors).

The scene is defined on the sky, so overlapping exposures see the same stars and
nebula: diffuse emission covering much of the mosaic (so that ``localmin`` is biased tile
by tile), stars with a Moffat PSF integrated over pixels, a sky pedestal per exposure,
Poisson and read noise, and DQ flags (hot pixels flagged 16 with valid data, dead pixels
flagged 4 and IR blobs flagged 512 with bad data).

The replica is not its own mirror: what a real field brings and the pipeline cannot
model is there too, each with a size set in the spec's ``[synthetic]`` table (0 turns it
off) and drawn from a random stream of its own (turning one off leaves the rest of the
realisation as it was):

- the true distortion differs from the header SIP by a smooth residual field
  (``distortion_residual_pix`` RMS), the size of the WFC3/IR solution's residuals;
- each exposure has a pointing error of its own on top of its visit's
  (``exposure_jitter_mas``), which one rscale fit per visit cannot remove;
- the stars move (``proper_motion_dispersion_mas_yr``) and the catalog knows their
  positions at ``catalog_epoch`` and their motions only to Gaia DR3-like errors, or not
  at all for faint 2-parameter stars;
- residual cosmic-ray hits and IR snowballs are left in the data with DQ 0.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from numpy.typing import ArrayLike

from skyqa import wfc3ir
from skyqa.errors import AcquisitionError, FieldSpecError
from skyqa.field import FieldSpec, PlannedExposure, SyntheticSpec

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    from astropy.table import Table
    from astropy.wcs import WCS

ARCSEC_PER_RAD = 206264.80624709636
DAYS_PER_YEAR = 365.25
MJD_J2000 = 51544.5
TRUTH_FILENAME = "truth.json"
CATALOG_FILENAME = "reference_catalog.ecsv"
STAR_LF_SLOPE = 0.15
"""Slope of the star counts, N(<m) proportional to 10**(0.15 m): with G < 21.5 this puts
about 17 percent of the stars in the catalog, as on the real Horsehead field."""
GAIA_COLOUR_RANGE = (0.5, 3.0)
"""G - F160W colours (mag) drawn uniformly: reddened stars seen through a nebula."""


# --- tangent-plane geometry -------------------------------------------------------------


def _matrix(values: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """A 2x2 array as the nested tuples the geometry records keep."""
    return (
        (float(values[0, 0]), float(values[0, 1])),
        (float(values[1, 0]), float(values[1, 1])),
    )


def tangent_offsets(
    ra_deg: ArrayLike, dec_deg: ArrayLike, ra0_deg: float, dec0_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (east, north) offsets in arcsec of sky positions from a tangent point."""
    ra, dec = np.deg2rad(ra_deg), np.deg2rad(dec_deg)
    ra0, dec0 = np.deg2rad(ra0_deg), np.deg2rad(dec0_deg)
    cos_c = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    east = np.cos(dec) * np.sin(ra - ra0) / cos_c
    north = (np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)) / cos_c
    return east * ARCSEC_PER_RAD, north * ARCSEC_PER_RAD


def from_tangent_offsets(
    east_arcsec: ArrayLike, north_arcsec: ArrayLike, ra0_deg: float, dec0_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sky positions (deg) of gnomonic (east, north) offsets in arcsec from a tangent point."""
    x = np.asarray(east_arcsec, dtype=float) / ARCSEC_PER_RAD
    y = np.asarray(north_arcsec, dtype=float) / ARCSEC_PER_RAD
    ra0, dec0 = np.deg2rad(ra0_deg), np.deg2rad(dec0_deg)
    rho = np.hypot(x, y)
    c = np.arctan(rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        dec = np.arcsin(
            np.cos(c) * np.sin(dec0) + np.where(rho > 0, y * np.sin(c) * np.cos(dec0) / rho, 0.0)
        )
        ra = ra0 + np.arctan2(
            x * np.sin(c), rho * np.cos(dec0) * np.cos(c) - y * np.sin(dec0) * np.sin(c)
        )
    return np.rad2deg(ra) % 360.0, np.rad2deg(dec)


# --- the imperfections' own random streams ---------------------------------------------

STREAM_JITTER = 0x717732
STREAM_DISTORTION = 0xD157
STREAM_MOTION = 0x90710
STREAM_CATALOG = 0xCA7A
STREAM_HITS = 0xC05A1C


def decimal_year(mjd: float) -> float:
    """Julian-year epoch of a Modified Julian Date (J2000.0 = 2000.0)."""
    return 2000.0 + (mjd - MJD_J2000) / DAYS_PER_YEAR


# --- the true distortion's residual from the header SIP ---------------------------------

DISTORTION_TERMS = 6
"""Sinusoids in the residual field: wavelengths of a quarter to a whole detector."""


def distortion_terms(spec: SyntheticSpec) -> list[dict]:
    """The detector's residual distortion: ``DISTORTION_TERMS`` plane waves over the full
    frame (pixels), scaled so that the vector RMS over the frame is
    ``distortion_residual_pix``. The same for every exposure (it is the detector's)."""
    if spec.distortion_residual_pix <= 0:
        return []
    rng = np.random.default_rng([spec.seed, STREAM_DISTORTION])
    full = wfc3ir.FULL_FRAME_PIX
    terms = []
    for _ in range(DISTORTION_TERMS):
        wavelength = rng.uniform(0.25, 1.0) * full
        angle = rng.uniform(0, 2 * np.pi)
        direction = rng.uniform(0, 2 * np.pi)
        terms.append(
            {
                "kx": float(np.cos(angle) / wavelength),
                "ky": float(np.sin(angle) / wavelength),
                "phase": float(rng.uniform(0, 2 * np.pi)),
                "ax": float(np.cos(direction)),
                "ay": float(np.sin(direction)),
            }
        )
    grid = np.linspace(0, full, 64)
    dx, dy = distortion_residual(*np.meshgrid(grid, grid), terms)
    rms = float(np.sqrt(np.mean(dx**2 + dy**2)))
    for term in terms:
        term["ax"] *= spec.distortion_residual_pix / rms
        term["ay"] *= spec.distortion_residual_pix / rms
    return terms


def distortion_residual(
    x_full: np.ndarray, y_full: np.ndarray, terms: list[dict]
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (pixels) of the true detector position from the header SIP's, at
    full-frame pixel positions (0-based)."""
    dx = np.zeros(np.broadcast(x_full, y_full).shape)
    dy = np.zeros_like(dx)
    for term in terms:
        wave = np.sin(2 * np.pi * (term["kx"] * x_full + term["ky"] * y_full) + term["phase"])
        dx = dx + term["ax"] * wave
        dy = dy + term["ay"] * wave
    return dx, dy


# --- the Gaia-like catalog's errors -----------------------------------------------------


def gaia_errors(g_mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis position error at the catalog epoch (mas) and proper-motion error
    (mas/yr) of Gaia DR3-like astrometry: 0.5 mas/yr at G = 20, 1 at G = 21, doubling
    every 1.0 mag fainter (0.3 dex/mag), never below 0.02; positions 0.8 times that."""
    pm_error = np.maximum(0.5 * 10 ** (0.3 * (np.asarray(g_mag) - 20.0)), 0.02)
    return 0.8 * pm_error, pm_error


# --- geometry of the program -------------------------------------------------------------


@dataclass(frozen=True)
class PointingError:
    """The error of one visit's header WCS, relative to the truth.

    Header positions are ``c + (1 + scale) R(rotation) (p - c) + shift`` in the target's
    tangent plane, with ``c`` the visit centre and ``R`` a turn from North through East.
    """

    asn_id: str
    shift_east_arcsec: float
    shift_north_arcsec: float
    rotation_deg: float
    scale: float


@dataclass(frozen=True)
class ExposureGeometry:
    """Where one synthetic exposure points: its true WCS and the WCS in its header."""

    rootname: str
    asn_id: str
    exptime: float
    date_obs: str
    time_obs: str
    expstart_mjd: float
    postarg1: float
    postarg2: float
    naxis: int
    crpix: tuple[float, float]
    ltv: tuple[float, float]
    true_crval: tuple[float, float]
    true_cd: tuple[tuple[float, float], tuple[float, float]]
    header_crval: tuple[float, float]
    header_cd: tuple[tuple[float, float], tuple[float, float]]
    jitter_mas: tuple[float, float] = (0.0, 0.0)
    """This exposure's own pointing error (east, north), on top of its visit's."""

    def wcs_header(self, which: str = "true") -> fits.Header:
        """WCS keywords (CD + SIP) of the true or the header WCS."""
        crval = self.true_crval if which == "true" else self.header_crval
        cd = self.true_cd if which == "true" else self.header_cd
        return sip_wcs_header(crval, np.array(cd), self.crpix, self.naxis)

    def wcs(self, which: str = "true") -> WCS:
        """An astropy WCS (with SIP) of the true or the header WCS."""
        from astropy.wcs import WCS

        return WCS(self.wcs_header(which))


def sip_wcs_header(
    crval: tuple[float, float], cd: np.ndarray, crpix: tuple[float, float], naxis: int
) -> fits.Header:
    """WCS keywords in the form drizzlepac needs: CD matrix (not PC) and SIP terms."""
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = naxis
    header["NAXIS2"] = naxis
    header["WCSAXES"] = (2, "Number of coordinate axes")
    header["CRPIX1"] = (crpix[0], "Pixel coordinate of reference point")
    header["CRPIX2"] = (crpix[1], "Pixel coordinate of reference point")
    header["CUNIT1"] = ("deg", "Units of coordinate increment and value")
    header["CUNIT2"] = ("deg", "Units of coordinate increment and value")
    header["CTYPE1"] = ("RA---TAN-SIP", "TAN (gnomonic) projection + SIP distortions")
    header["CTYPE2"] = ("DEC--TAN-SIP", "TAN (gnomonic) projection + SIP distortions")
    header["CRVAL1"] = (float(crval[0]), "[deg] Coordinate value at reference point")
    header["CRVAL2"] = (float(crval[1]), "[deg] Coordinate value at reference point")
    for i in range(2):
        for j in range(2):
            header[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "partial of axis coordinate")
    header["A_ORDER"] = (wfc3ir.SIP_ORDER, "SIP polynomial order, axis 0, detector to sky")
    for (p, q), value in wfc3ir.SIP_A.items():
        header[f"A_{p}_{q}"] = (value, "SIP distortion coefficient")
    header["B_ORDER"] = (wfc3ir.SIP_ORDER, "SIP polynomial order, axis 1, detector to sky")
    for (p, q), value in wfc3ir.SIP_B.items():
        header[f"B_{p}_{q}"] = (value, "SIP distortion coefficient")
    return header


def _subarray_geometry(naxis: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """CRPIX and LTV of a square subarray centred on the detector (full frame: naxis 1014)."""
    start = (wfc3ir.FULL_FRAME_PIX - naxis) // 2
    crpix = (wfc3ir.SIP_CRPIX[0] - start, wfc3ir.SIP_CRPIX[1] - start)
    return crpix, (-float(start), -float(start))


def _observation_times(
    plan: list[PlannedExposure], rng: np.random.Generator
) -> dict[str, dt.datetime]:
    """Start times: exposures of a visit 15 minutes apart, on the dates of the plan."""
    times: dict[str, dt.datetime] = {}
    for asn_id in dict.fromkeys(exposure.asn_id for exposure in plan):
        members = [exposure for exposure in plan if exposure.asn_id == asn_id]
        first_day = dt.datetime.fromisoformat(members[0].date_obs)
        spans_midnight = len({member.date_obs for member in members}) > 1
        start_s = 86400 - 600 if spans_midnight else int(rng.uniform(3600, 72000))
        for index, member in enumerate(members):
            start = first_day + dt.timedelta(seconds=start_s + 900 * index)
            if start.strftime("%Y-%m-%d") != member.date_obs:
                raise FieldSpecError(
                    f"[synthetic] exposure {member.rootname}: date_obs {member.date_obs} cannot "
                    f"follow the visit's first exposure ({members[0].date_obs}) 15 minutes "
                    "per exposure later."
                )
            times[member.rootname] = start
    return times


def plan_geometry(
    spec: SyntheticSpec, ra_targ: float, dec_targ: float, rng: np.random.Generator
) -> tuple[list[ExposureGeometry], list[PointingError]]:
    """True and header WCS of every planned exposure, and each visit's pointing error.

    The aperture reference pixel of an exposure points at the target offset by its
    POSTARGs along the detector axes; the true CD matrix is the real one turned to the
    exposure's ORIENTAT.
    """
    crpix, ltv = _subarray_geometry(spec.detector_size)
    times = _observation_times(list(spec.exposures), rng)
    mjd_zero = dt.datetime(1858, 11, 17)
    true_pointing = {}
    for exposure in spec.exposures:
        cd = wfc3ir.cd_for_orientat(exposure.orientat)
        x_axis = cd[:, 0] / np.hypot(*cd[:, 0])
        y_axis = cd[:, 1] / np.hypot(*cd[:, 1])
        offset = exposure.postarg1 * x_axis + exposure.postarg2 * y_axis
        true_pointing[exposure.rootname] = (offset, cd)

    errors = []
    geometries = []
    jitter_rng = np.random.default_rng([spec.seed, STREAM_JITTER])
    for asn_id in dict.fromkeys(exposure.asn_id for exposure in spec.exposures):
        members = [exposure for exposure in spec.exposures if exposure.asn_id == asn_id]
        centre = np.mean([true_pointing[m.rootname][0] for m in members], axis=0)
        shift_angle = rng.uniform(0, 2 * np.pi)
        shift_size = spec.pointing_shift_max_arcsec * np.sqrt(rng.uniform(0.1, 1.0))
        error = PointingError(
            asn_id=asn_id,
            shift_east_arcsec=float(shift_size * np.sin(shift_angle)),
            shift_north_arcsec=float(shift_size * np.cos(shift_angle)),
            rotation_deg=float(rng.uniform(-1, 1) * spec.pointing_rotation_max_deg),
            scale=float(rng.uniform(-1, 1) * spec.pointing_scale_max),
        )
        errors.append(error)
        turn = (1 + error.scale) * wfc3ir.rotation_matrix(error.rotation_deg)
        shift = np.array([error.shift_east_arcsec, error.shift_north_arcsec])
        for member in members:
            offset, cd = true_pointing[member.rootname]
            jitter_mas = jitter_rng.normal(0.0, spec.exposure_jitter_mas, size=2)
            header_offset = centre + turn @ (offset - centre) + shift + jitter_mas / 1000.0
            true_crval = from_tangent_offsets(offset[0], offset[1], ra_targ, dec_targ)
            header_crval = from_tangent_offsets(
                header_offset[0], header_offset[1], ra_targ, dec_targ
            )
            start = times[member.rootname]
            geometries.append(
                ExposureGeometry(
                    rootname=member.rootname,
                    asn_id=member.asn_id,
                    exptime=member.exptime,
                    date_obs=start.strftime("%Y-%m-%d"),
                    time_obs=start.strftime("%H:%M:%S"),
                    expstart_mjd=(start - mjd_zero).total_seconds() / 86400.0,
                    postarg1=member.postarg1,
                    postarg2=member.postarg2,
                    naxis=spec.detector_size,
                    crpix=crpix,
                    ltv=ltv,
                    true_crval=(float(true_crval[0]), float(true_crval[1])),
                    true_cd=_matrix(cd),
                    header_crval=(float(header_crval[0]), float(header_crval[1])),
                    header_cd=_matrix(turn @ cd),
                    jitter_mas=(float(jitter_mas[0]), float(jitter_mas[1])),
                )
            )
    return geometries, errors


# --- the scene ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    """What is on the sky: stars, the nebula, and each exposure's sky pedestal.

    ``stars`` has columns ra, dec (deg, at the exposures' epoch), mag_f160w (AB), gaia_g
    (mag), flux_e_s, pm_east_mas_yr, pm_north_mas_yr; ``nebula`` has east_arcsec,
    north_arcsec, sigma_arcsec, amplitude_e_s (Gaussian blobs in the target's tangent
    plane); ``pedestal_e_s`` maps rootname to the uniform sky level (e-/s) of that
    exposure; ``distortion`` is the detector's residual from the header SIP
    (`distortion_terms`).
    """

    stars: Table
    nebula: Table
    pedestal_e_s: dict[str, float]
    ra_targ: float
    dec_targ: float
    distortion: tuple[dict, ...] = ()

    def nebula_e_s(self, east_arcsec: np.ndarray, north_arcsec: np.ndarray) -> np.ndarray:
        """Nebular surface brightness (e-/s per pixel) at tangent-plane offsets."""
        total = np.zeros(np.broadcast(east_arcsec, north_arcsec).shape)
        for blob in self.nebula:
            distance2 = (east_arcsec - blob["east_arcsec"]) ** 2 + (
                north_arcsec - blob["north_arcsec"]
            ) ** 2
            total += blob["amplitude_e_s"] * np.exp(-0.5 * distance2 / blob["sigma_arcsec"] ** 2)
        return total


def _footprint_radius_arcsec(geometries: list[ExposureGeometry], ra0: float, dec0: float) -> float:
    """Distance from the target to the farthest exposure corner."""
    radius = 0.0
    for geometry in geometries:
        wcs = geometry.wcs("true")
        edge = [0.5, geometry.naxis + 0.5]
        corners_x, corners_y = np.meshgrid(edge, edge)
        ra, dec = wcs.all_pix2world(corners_x.ravel(), corners_y.ravel(), 1)
        east, north = tangent_offsets(ra, dec, ra0, dec0)
        radius = max(radius, float(np.max(np.hypot(east, north))))
    return radius


def make_scene(
    spec: SyntheticSpec,
    geometries: list[ExposureGeometry],
    ra_targ: float,
    dec_targ: float,
    rng: np.random.Generator,
) -> Scene:
    """Draw the stars, the nebula and the sky pedestals of a synthetic field."""
    from astropy.table import Table

    footprint = _footprint_radius_arcsec(geometries, ra_targ, dec_targ)
    star_radius = max(spec.catalog_radius_arcmin * 60.0, footprint + 10.0)
    radius = star_radius * np.sqrt(rng.uniform(size=spec.n_stars))
    angle = rng.uniform(0, 2 * np.pi, size=spec.n_stars)
    ra, dec = from_tangent_offsets(
        radius * np.sin(angle), radius * np.cos(angle), ra_targ, dec_targ
    )
    low, high = (
        10 ** (STAR_LF_SLOPE * spec.star_mag_bright),
        10 ** (STAR_LF_SLOPE * spec.star_mag_faint),
    )
    mag = np.log10(low + rng.uniform(size=spec.n_stars) * (high - low)) / STAR_LF_SLOPE
    stars = Table(
        {
            "ra": ra,
            "dec": dec,
            "mag_f160w": mag,
            "gaia_g": mag + rng.uniform(*GAIA_COLOUR_RANGE, size=spec.n_stars),
            "flux_e_s": 10 ** (-0.4 * (mag - wfc3ir.F160W_AB_ZEROPOINT)),
        }
    )
    motion = np.random.default_rng([spec.seed, STREAM_MOTION])
    stars["pm_east_mas_yr"] = motion.normal(0, spec.proper_motion_dispersion_mas_yr, len(stars))
    stars["pm_north_mas_yr"] = motion.normal(0, spec.proper_motion_dispersion_mas_yr, len(stars))

    blob_radius = footprint * np.sqrt(rng.uniform(size=spec.nebula_blobs))
    blob_angle = rng.uniform(0, 2 * np.pi, size=spec.nebula_blobs)
    nebula = Table(
        {
            "east_arcsec": blob_radius * np.sin(blob_angle),
            "north_arcsec": blob_radius * np.cos(blob_angle),
            "sigma_arcsec": rng.uniform(0.08, 0.35, size=spec.nebula_blobs) * footprint,
            "amplitude_e_s": rng.uniform(0.2, 1.0, size=spec.nebula_blobs),
        }
    )
    scene = Scene(stars, nebula, {}, ra_targ, dec_targ)
    grid = np.linspace(-footprint, footprint, 121)
    peak = scene.nebula_e_s(*np.meshgrid(grid, grid)).max()
    nebula["amplitude_e_s"] *= spec.nebula_peak_e_s / peak

    pedestal = {}
    for asn_id in dict.fromkeys(g.asn_id for g in geometries):
        visit_level = spec.sky_base_e_s + rng.uniform(0, spec.visit_pedestal_range_e_s)
        for geometry in (g for g in geometries if g.asn_id == asn_id):
            jitter = rng.normal(0, spec.exposure_pedestal_jitter_e_s)
            pedestal[geometry.rootname] = float(visit_level + jitter)
    return Scene(stars, nebula, pedestal, ra_targ, dec_targ, tuple(distortion_terms(spec)))


# --- rendering ---------------------------------------------------------------------------

PSF_SUBSAMPLING = 5


def _moffat_stamp(
    x_frac: float, y_frac: float, half_size: int, fwhm: float, beta: float
) -> np.ndarray:
    """A Moffat PSF of unit flux integrated over pixels, centred at an offset within a pixel."""
    alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
    step = 1.0 / PSF_SUBSAMPLING
    sub = (np.arange(PSF_SUBSAMPLING) + 0.5) * step - 0.5
    pixel = np.arange(-half_size, half_size + 1)
    fine = (pixel[:, None] + sub[None, :]).ravel()
    yy, xx = np.meshgrid(fine - y_frac, fine - x_frac, indexing="ij")
    profile = (beta - 1) / (np.pi * alpha**2) * (1 + (xx**2 + yy**2) / alpha**2) ** (-beta)
    size = 2 * half_size + 1
    binned = profile.reshape(size, PSF_SUBSAMPLING, size, PSF_SUBSAMPLING).mean(axis=(1, 3))
    return binned


def _add_stars(
    image: np.ndarray, geometry: ExposureGeometry, scene: Scene, spec: SyntheticSpec
) -> int:
    """Add the stars that fall on an exposure; return how many did."""
    wcs = geometry.wcs("true")
    size = image.shape[0]
    # The SIP polynomial diverges far from the detector: invert it exactly only for stars
    # that the linear WCS puts within the largest distortion (~10 pix) of the array.
    x_linear, y_linear = wcs.wcs_world2pix(scene.stars["ra"], scene.stars["dec"], 0)
    near = (np.abs(x_linear - size / 2) < size / 2 + 40) & (
        np.abs(y_linear - size / 2) < size / 2 + 40
    )
    stars = scene.stars[near]
    if len(stars) == 0:
        return 0
    x, y = wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    dx, dy = distortion_residual(x - geometry.ltv[0], y - geometry.ltv[1], list(scene.distortion))
    x, y = x + dx, y + dy
    placed = 0
    for xs, ys, flux in zip(x, y, stars["flux_e_s"], strict=True):
        half = 12 if flux > 2000 else 8
        if not (-half <= xs < size + half and -half <= ys < size + half):
            continue
        xi, yi = int(np.round(xs)), int(np.round(ys))
        stamp = flux * _moffat_stamp(
            xs - xi, ys - yi, half, spec.psf_fwhm_pix, spec.psf_moffat_beta
        )
        x0, y0 = xi - half, yi - half
        sx0, sy0 = max(0, -x0), max(0, -y0)
        sx1 = min(stamp.shape[1], size - x0)
        sy1 = min(stamp.shape[0], size - y0)
        image[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1] += stamp[sy0:sy1, sx0:sx1]
        placed += int(0 <= xs < size and 0 <= ys < size)
    return placed


def _nebula_image(geometry: ExposureGeometry, scene: Scene) -> np.ndarray:
    """The nebula seen by an exposure, evaluated on a coarse grid and interpolated.

    The nebula varies on scales of tens of arcsec, so an 8-pixel grid with cubic
    interpolation is exact to far below the noise.
    """
    size = geometry.naxis
    step = 8
    coarse = np.arange(0, size + step, step, dtype=float)
    gx, gy = np.meshgrid(coarse, coarse)
    ra, dec = geometry.wcs("true").all_pix2world(gx.ravel(), gy.ravel(), 0)
    east, north = tangent_offsets(ra, dec, scene.ra_targ, scene.dec_targ)
    values = scene.nebula_e_s(east, north).reshape(gx.shape)
    yy, xx = np.mgrid[0:size, 0:size] / step
    from scipy import ndimage  # here, not at the top: a warm QA run never needs scipy

    return ndimage.map_coordinates(values, [yy, xx], order=3, mode="nearest")


@dataclass
class ExposureArrays:
    """The five image extensions of an FLT, in FLT units."""

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    samp: np.ndarray
    time: np.ndarray
    n_stars: int
    hits: list[dict] = dataclasses.field(default_factory=list)


def _detector_defects(size: int, crpix: tuple[float, float], seed: int) -> dict[str, np.ndarray]:
    """Fixed detector defects: the same pixels in every exposure of a field.

    Drawn on the full frame and cut to the subarray, so a subarray shares the full
    frame's defects.
    """
    rng = np.random.default_rng([seed, 0xDE7EC7])
    full = wfc3ir.FULL_FRAME_PIX
    start = round(wfc3ir.SIP_CRPIX[0] - crpix[0])
    cut = (slice(start, start + size), slice(start, start + size))
    yy, xx = np.mgrid[0:full, 0:full]
    blobs = np.zeros((full, full), dtype=bool)
    for _ in range(6):
        cx, cy, radius = rng.uniform(80, full - 80), rng.uniform(80, full - 80), rng.uniform(8, 15)
        blobs |= (xx - cx) ** 2 + (yy - cy) ** 2 < radius**2
    return {
        "hot_draw": rng.uniform(size=(full, full))[cut],
        "dead_draw": rng.uniform(size=(full, full))[cut],
        "hot_dark_e_s": rng.uniform(0.1, 2.0, size=(full, full))[cut],
        "blob": blobs[cut],
    }


def render_exposure(
    geometry: ExposureGeometry,
    scene: Scene,
    spec: SyntheticSpec,
    rng: np.random.Generator,
) -> ExposureArrays:
    """Render one exposure: scene, noise and DQ flags, in e-/s."""
    size = geometry.naxis
    signal = np.full((size, size), scene.pedestal_e_s[geometry.rootname])
    signal += _nebula_image(geometry, scene)
    n_stars = _add_stars(signal, geometry, scene, spec)

    defects = _detector_defects(size, geometry.crpix, spec.seed)
    hot = defects["hot_draw"] < spec.hot_pixel_fraction
    dead = defects["dead_draw"] < spec.dead_pixel_fraction
    blob = defects["blob"]

    exptime = geometry.exptime
    dark = np.where(hot, defects["hot_dark_e_s"], spec.dark_e_s)
    response = np.where(blob, 0.85, 1.0) * np.where(dead, 0.02, 1.0)
    expected_e = (signal * response + dark) * exptime
    electrons = rng.poisson(expected_e).astype(float) + rng.normal(
        0, spec.read_noise_e, size=signal.shape
    )
    sci = (electrons - dark * exptime) / exptime
    err = np.sqrt(expected_e + spec.read_noise_e**2) / exptime

    hits = _add_unflagged_hits(sci, geometry.rootname, spec)

    dq = np.zeros(signal.shape, dtype=np.int16)
    dq[hot] |= wfc3ir.DQ_HOT
    dq[dead] |= wfc3ir.DQ_BAD_DETECTOR
    dq[blob] |= wfc3ir.DQ_BLOB
    return ExposureArrays(
        sci=sci.astype(np.float32),
        err=err.astype(np.float32),
        dq=dq,
        samp=np.full(signal.shape, wfc3ir.SPARS50_NSAMP - 1, dtype=np.int16),
        time=np.full(signal.shape, exptime, dtype=np.float32),
        n_stars=n_stars,
        hits=hits,
    )


def _add_unflagged_hits(sci: np.ndarray, rootname: str, spec: SyntheticSpec) -> list[dict]:
    """Add what the ramp fit left and DQ does not flag: residual cosmic-ray hits (1-3
    pixels in a row, 0.3-5 e-/s each) and IR snowballs (round, 2.5-5 pixels in radius,
    5-30 e-/s at the core). Returns one entry per hit (0-based pixel, kind, e-/s)."""
    rng = np.random.default_rng([spec.seed, STREAM_HITS, zlib.crc32(rootname.encode())])
    size = sci.shape[0]
    hits = []
    for _ in range(spec.unflagged_cosmic_rays):
        x, y = rng.integers(0, size, size=2)
        step = rng.choice([(1, 0), (0, 1), (1, 1), (1, -1)])
        level = float(np.exp(rng.uniform(np.log(0.3), np.log(5.0))))
        for k in range(int(rng.integers(1, 4))):
            xi, yi = x + k * step[0], y + k * step[1]
            if 0 <= xi < size and 0 <= yi < size:
                sci[yi, xi] += level
        hits.append({"kind": "cosmic ray", "x": int(x), "y": int(y), "e_s": level})
    for _ in range(spec.unflagged_snowballs):
        x, y = rng.uniform(0, size, size=2)
        radius = rng.uniform(2.5, 5.0)
        core = rng.uniform(5.0, 30.0)
        # A box of 20 pixels around it: beyond, the edge's fall-off is below 1e-8 of the core.
        box = (
            slice(max(0, int(y) - 20), min(size, int(y) + 21)),
            slice(max(0, int(x) - 20), min(size, int(x) + 21)),
        )
        yy, xx = np.mgrid[box]
        sci[box] += core / (1 + np.exp((np.hypot(xx - x, yy - y) - radius) / 0.7))
        hits.append({"kind": "snowball", "x": float(x), "y": float(y), "e_s": float(core)})
    return hits


# --- writing FLT files -------------------------------------------------------------------


def _primary_header(
    geometry: ExposureGeometry, spec: SyntheticSpec, field: FieldSpec, orientat: float
) -> fits.Header:
    subarray = geometry.naxis != wfc3ir.FULL_FRAME_PIX
    aperture = f"IRSUB{geometry.naxis}" if subarray else "IR"
    expend = geometry.expstart_mjd + geometry.exptime / 86400.0
    cards = [
        ("ORIGIN", "skyqa.simulate", "FITS file originator"),
        ("DATE", geometry.date_obs, "date this file was written (yyyy-mm-dd)"),
        ("NEXTEND", 5, "Number of standard extensions"),
        ("FILENAME", f"{geometry.rootname}_flt.fits", "name of file"),
        ("FILETYPE", "SCI", "type of data found in data file"),
        ("TELESCOP", "HST", "telescope used to acquire data"),
        ("INSTRUME", "WFC3", "identifier for instrument used to acquire data"),
        ("EQUINOX", 2000.0, "equinox of celestial coord. system"),
        ("ROOTNAME", geometry.rootname, "rootname of the observation set"),
        ("IMAGETYP", "EXT", "type of exposure identifier"),
        ("PRIMESI", "WFC3", "instrument designated as prime"),
        ("TARGNAME", field.target.name, "proposer's target name"),
        ("RA_TARG", field.target.ra_deg, "right ascension of the target (deg) (J2000)"),
        ("DEC_TARG", field.target.dec_deg, "declination of the target (deg) (J2000)"),
        ("PROPOSID", spec.proposal_id, "PEP proposal identifier"),
        ("LINENUM", f"{geometry.asn_id[4:6]}.001", "proposal logsheet line number"),
        ("PR_INV_L", "Synthetic", "last name of principal investigator"),
        ("PR_INV_F", "skyqa", "first name of principal investigator"),
        ("FGSLOCK", "FINE", "commanded FGS lock (FINE,COARSE,GYROS,UNKNOWN)"),
        ("GYROMODE", "T", "number of gyros scheduled, T=3+OBAD"),
        ("REFFRAME", "ICRS", "guide star catalog version"),
        ("MTFLAG", " ", "moving target flag; T if it is a moving target"),
        ("DATE-OBS", geometry.date_obs, "UT date of start of observation (yyyy-mm-dd)"),
        ("TIME-OBS", geometry.time_obs, "UT time of start of observation (hh:mm:ss)"),
        ("EXPSTART", geometry.expstart_mjd, "exposure start time (Modified Julian Date)"),
        ("EXPEND", expend, "exposure end time (Modified Julian Date)"),
        ("EXPTIME", geometry.exptime, "exposure duration (seconds)--calculated"),
        ("EXPFLAG", "NORMAL", "Exposure interruption indicator"),
        ("PA_V3", (orientat - 44.59) % 360.0, "position angle of V3-axis of HST (deg)"),
        ("POSTARG1", geometry.postarg1, "POSTARG in axis 1 direction"),
        ("POSTARG2", geometry.postarg2, "POSTARG in axis 2 direction"),
        ("OPUS_VER", "HSTDP 2012_3", "data processing software system version"),
        ("CAL_VER", "2.7 (skyqa synthetic)", "CALWF3 code version"),
        ("OBSTYPE", "IMAGING", "observation type - imaging or spectroscopic"),
        ("OBSMODE", "MULTIACCUM", "operating mode"),
        ("SCLAMP", "NONE", "lamp status, NONE or name of lamp which is on"),
        ("NRPTEXP", 1, "number of repeat exposures in set: default 1"),
        ("SUBARRAY", subarray, "data from a subarray (T) or full frame (F)"),
        ("SUBTYPE", f"SQ{geometry.naxis}SUB" if subarray else "FULLIMAG", "IR subarray"),
        ("DETECTOR", "IR", "detector in use: UVIS or IR"),
        ("FILTER", "F160W", "element selected from filter wheel"),
        ("SAMP_SEQ", "SPARS50", "MultiAccum exposure time sequence name"),
        ("NSAMP", wfc3ir.SPARS50_NSAMP, "number of MULTIACCUM samples"),
        ("SAMPZERO", 2.932291, "sample time of the zeroth read (sec)"),
        ("APERTURE", aperture, "aperture name"),
        ("PROPAPER", aperture, "proposed aperture name"),
        ("DIRIMAGE", "NONE", "direct image for grism or prism exposure"),
    ]
    for switch in (
        "DQICORR",
        "ZSIGCORR",
        "ZOFFCORR",
        "DARKCORR",
        "BLEVCORR",
        "NLINCORR",
        "FLATCORR",
        "CRCORR",
        "UNITCORR",
        "PHOTCORR",
    ):
        cards.append((switch, "COMPLETE", "calibration switch"))
    cards += [
        ("RPTCORR", "OMIT", "combine individual repeat observations"),
        ("DRIZCORR", "COMPLETE", "drizzle processing"),
        ("IDCTAB", "N/A", "no IDCTAB: SIP distortion in SCI header"),
        ("DGEOFILE", "N/A", "Distortion correction image"),
        ("NPOLFILE", "N/A", "origin of non-polynomial distortion model"),
        ("D2IMFILE", "N/A", "origin of detector to image correction"),
        ("MDRIZTAB", "N/A", "MultiDrizzle parameter table"),
    ]
    cards += [(key, value, "photometry keyword") for key, value in wfc3ir.F160W_PHOTOMETRY.items()]
    cards += [
        ("ASN_ID", geometry.asn_id, "unique identifier assigned to association"),
        ("ASN_TAB", f"{geometry.asn_id.lower()}_asn.fits", "name of the association table"),
        ("ASN_MTYP", "EXP-DTH", "Role of the Member in the Association"),
        ("CCDAMP", "ABCD", "CCD Amplifier Readout Configuration"),
        ("CCDGAIN", 2.5, "commanded gain of CCD"),
    ]
    cards += [
        (key, value, "calibrated amplifier value") for key, value in wfc3ir.AMPLIFIERS.items()
    ]
    header = fits.Header(cards)
    header.add_history("Synthetic WFC3/IR exposure made by skyqa.simulate (no real data).")
    return header


def _science_header(
    geometry: ExposureGeometry, arrays: ExposureArrays, spec: SyntheticSpec
) -> fits.Header:
    header_wcs = geometry.wcs_header("header")
    cd = np.array(geometry.header_cd)
    orientat = wfc3ir.position_angle_of_y(cd)
    good = arrays.dq & wfc3ir.SDQFLAGS == 0
    good_sci = arrays.sci[good]
    snr = good_sci / arrays.err[good]
    cards = [
        ("EXTNAME", "SCI", "extension name"),
        ("EXTVER", 1, "extension version number"),
        ("INHERIT", True, "inherit the primary header"),
        ("ROOTNAME", geometry.rootname, "rootname of the observation set"),
        ("EXPNAME", geometry.rootname, "exposure identifier"),
        ("BUNIT", "ELECTRONS/S", "brightness units"),
        ("LTV1", geometry.ltv[0], "offset in X to subsection start"),
        ("LTV2", geometry.ltv[1], "offset in Y to subsection start"),
        ("LTM1_1", 1.0, "reciprocal of sampling rate in X"),
        ("LTM2_2", 1.0, "reciprocal of sampling rate in Y"),
        ("PA_APER", round(orientat, 4), "Position Angle of reference aperture center"),
        ("VAFACTOR", 1.0, "velocity aberration scale (not simulated)"),
        ("ORIENTAT", orientat, "position angle of image y axis (deg. e of n)"),
        ("RA_APER", geometry.header_crval[0], "RA of aperture reference position"),
        ("DEC_APER", geometry.header_crval[1], "Declination of aperture reference position"),
        ("NCOMBINE", 1, "number of image sets combined"),
        ("CENTERA1", 513, "subarray axis1 center pt in unbinned dect. pix"),
        ("CENTERA2", 513, "subarray axis2 center pt in unbinned dect. pix"),
        ("SIZAXIS1", geometry.naxis, "subarray axis1 size in unbinned detector pixels"),
        ("SIZAXIS2", geometry.naxis, "subarray axis2 size in unbinned detector pixels"),
        ("BINAXIS1", 1, "axis1 data bin size in unbinned detector pixels"),
        ("BINAXIS2", 1, "axis2 data bin size in unbinned detector pixels"),
        ("SAMPNUM", wfc3ir.SPARS50_NSAMP - 1, "MULTIACCUM sample number"),
        ("SAMPTIME", geometry.exptime, "total integration time (sec)"),
        ("DELTATIM", 50.0, "integration time of this sample (sec)"),
        ("NGOODPIX", int(good.sum()), "number of good pixels"),
        ("SDQFLAGS", wfc3ir.SDQFLAGS, "serious data quality flags"),
        ("GOODMIN", float(good_sci.min()), "minimum value of good pixels"),
        ("GOODMAX", float(good_sci.max()), "maximum value of good pixels"),
        ("GOODMEAN", float(good_sci.mean()), "mean value of good pixels"),
        ("SNRMIN", float(snr.min()), "minimum signal to noise of good pixels"),
        ("SNRMAX", float(snr.max()), "maximum signal to noise of good pixels"),
        ("SNRMEAN", float(snr.mean()), "mean value of signal to noise of good pixels"),
        ("SOFTERRS", 0, "number of soft error pixels (DQF=1)"),
        ("MEANDARK", spec.dark_e_s * geometry.exptime, "average of the dark values subtracted"),
        ("MEANBLEV", 14400.0, "average of all bias levels subtracted"),
        ("RADESYS", "ICRS", "Equatorial coordinate system"),
    ]
    header = fits.Header(cards)
    header.update({key: value for key, value in wfc3ir.IDC_KEYWORDS.items()})
    for card in header_wcs.cards:
        if card.keyword not in ("NAXIS", "NAXIS1", "NAXIS2"):
            header.append(card)
    header["WCSNAME"] = (wfc3ir.DISTORTION_NAME, "Coordinate system title")
    header["WCSTYPE"] = "distorted not aligned"
    return header


def _extension_header(extname: str, bunit: str, geometry: ExposureGeometry) -> fits.Header:
    header = fits.Header(
        [
            ("EXTNAME", extname, "extension name"),
            ("EXTVER", 1, "extension version number"),
            ("INHERIT", True, "inherit the primary header"),
            ("ROOTNAME", geometry.rootname, "rootname of the observation set"),
            ("EXPNAME", geometry.rootname, "exposure identifier"),
            ("BUNIT", bunit, "brightness units"),
        ]
    )
    return header


def build_flt(
    geometry: ExposureGeometry, arrays: ExposureArrays, spec: SyntheticSpec, field: FieldSpec
) -> fits.HDUList:
    """Assemble an FLT HDUList: primary + SCI, ERR, DQ, SAMP, TIME (EXTVER 1)."""
    science = _science_header(geometry, arrays, spec)
    primary = fits.PrimaryHDU(header=_primary_header(geometry, spec, field, science["ORIENTAT"]))
    return fits.HDUList(
        [
            primary,
            fits.ImageHDU(arrays.sci, header=science),
            fits.ImageHDU(arrays.err, header=_extension_header("ERR", "ELECTRONS/S", geometry)),
            fits.ImageHDU(arrays.dq, header=_extension_header("DQ", "UNITLESS", geometry)),
            fits.ImageHDU(arrays.samp, header=_extension_header("SAMP", "UNITLESS", geometry)),
            fits.ImageHDU(arrays.time, header=_extension_header("TIME", "SECONDS", geometry)),
        ]
    )


# --- the whole field ---------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticField:
    """Paths of a generated synthetic field."""

    directory: Path
    flt_paths: tuple[Path, ...]
    visit_drz_paths: tuple[Path, ...]
    catalog_path: Path
    truth_path: Path


def catalog_errors_mas(
    scene: Scene, spec: SyntheticSpec, epoch: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each star's catalog position error (east, north; mas) at the exposures' ``epoch``,
    and whether it is a 2-parameter star (no proper motion in the catalog).

    The catalog measured the star at ``catalog_epoch`` and its proper motion, each with a
    Gaia DR3-like error (`gaia_errors`); its position is carried back to ``epoch`` with
    the measured motion, or, without one, left where the star was at the catalog epoch.
    """
    rng = np.random.default_rng([spec.seed, STREAM_CATALOG])
    n = len(scene.stars)
    years = spec.catalog_epoch - epoch
    position_error, motion_error = gaia_errors(scene.stars["gaia_g"])
    position_error = position_error * spec.catalog_error_scale
    motion_error = motion_error * spec.catalog_error_scale
    two_parameter = (np.asarray(scene.stars["gaia_g"]) > spec.two_parameter_mag_limit) & (
        rng.uniform(size=n) < 0.5
    )
    errors = []
    for axis in ("pm_east_mas_yr", "pm_north_mas_yr"):
        motion = np.asarray(scene.stars[axis])
        at_catalog_epoch = motion * years + rng.normal(0, 1, n) * position_error
        measured_motion = motion + rng.normal(0, 1, n) * motion_error
        carried = at_catalog_epoch - measured_motion * years
        errors.append(np.where(two_parameter, at_catalog_epoch, carried))
    return errors[0], errors[1], two_parameter


def reference_catalog(scene: Scene, spec: SyntheticSpec, epoch: float) -> Table:
    """The Gaia-like catalog of the stars brighter than the G limit in the cone, at the
    exposures' ``epoch`` with the errors of `catalog_errors_mas`."""
    from astropy.table import Table

    east, north = tangent_offsets(
        scene.stars["ra"], scene.stars["dec"], scene.ra_targ, scene.dec_targ
    )
    keep = (scene.stars["gaia_g"] < spec.catalog_mag_limit) & (
        np.hypot(east, north) <= spec.catalog_radius_arcmin * 60.0
    )
    error_east, error_north, two_parameter = catalog_errors_mas(scene, spec, epoch)
    ra, dec = from_tangent_offsets(
        east + error_east / 1000.0, north + error_north / 1000.0, scene.ra_targ, scene.dec_targ
    )
    catalog = Table(
        {
            "ra": ra[keep],
            "dec": dec[keep],
            "mag": scene.stars["gaia_g"][keep],
            "error_mas": np.hypot(error_east, error_north)[keep],
            "two_parameter": two_parameter[keep],
        }
    )
    catalog["ra"].unit = catalog["dec"].unit = "deg"
    catalog["mag"].unit = "mag"
    catalog["error_mas"].unit = "mas"
    catalog.meta["comments"] = [
        "Gaia-like reference catalog of a skyqa synthetic field, at the exposures' epoch",
        "error_mas: the position's true error (truth; not known for a real catalog)",
    ]
    catalog.meta["epoch"] = epoch
    return catalog


def _truth_document(
    field: FieldSpec,
    geometries: list[ExposureGeometry],
    errors: list[PointingError],
    scene: Scene,
    stars_on: dict[str, int],
    hits: dict[str, list[dict]],
    catalog: Table,
) -> dict:
    spec = field.synthetic
    assert spec is not None
    error = np.asarray(catalog["error_mas"])
    return {
        "field": field.name,
        "seed": spec.seed,
        "units": {"sky": "e-/s per pixel (FLT SCI units)", "angles": "deg", "shifts": "arcsec"},
        "target": asdict(field.target),
        "sky_base_e_s": spec.sky_base_e_s,
        "exposures": [
            {
                **asdict(geometry),
                "sky_pedestal_e_s": scene.pedestal_e_s[geometry.rootname],
                "stars_on_detector": stars_on[geometry.rootname],
                "unflagged_hits": hits[geometry.rootname],
            }
            for geometry in geometries
        ],
        "pointing_errors": [asdict(error) for error in errors],
        "nebula": [
            {name: float(row[name]) for name in scene.nebula.colnames} for row in scene.nebula
        ],
        "n_stars": len(scene.stars),
        "n_catalog_stars": len(catalog),
        "catalog": {
            "epoch": catalog.meta["epoch"],
            "catalog_epoch": spec.catalog_epoch,
            "position_error_rms_mas": float(np.sqrt(np.mean(error**2))) if len(error) else 0.0,
            "position_error_max_mas": float(error.max()) if len(error) else 0.0,
            "two_parameter_stars": int(np.sum(catalog["two_parameter"])),
        },
        "distortion_residual": {
            "rms_pix": spec.distortion_residual_pix,
            "terms": list(scene.distortion),
        },
    }


def generate_synthetic_field(
    field: FieldSpec,
    out_dir: Path,
    drizzle_visit: Callable[[list[Path], str, Path], Path],
    progress: Callable[[str], None] = lambda message: None,
    workers: int = 1,
) -> SyntheticField:
    """Write a synthetic field (FLTs, visit DRZs, catalog, truth) into ``out_dir``.

    Parameters
    ----------
    field : FieldSpec
        A spec of kind ``synthetic``.
    out_dir : Path
        Empty or new directory to write into.
    drizzle_visit : callable
        ``drizzle_visit(flt_paths, output_rootname, workdir) -> drz_path`` makes a visit
        mosaic with ``build=True`` in ``workdir`` from FLTs there (see `skyqa.drizzle`).
    progress : callable
        Receives one line of text per step.
    workers : int
        Visits drizzled at once, each in a process and folder of its own (``drizzle_visit``
        must then be picklable: a module-level function).

    Returns
    -------
    SyntheticField
    """
    spec = field.synthetic
    if spec is None:
        raise AcquisitionError(f"Field {field.name} is of kind {field.kind}, not synthetic.")
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    ra, dec = field.target.ra_deg, field.target.dec_deg
    geometries, errors = plan_geometry(spec, ra, dec, rng)
    scene = make_scene(spec, geometries, ra, dec, rng)

    flt_paths = []
    stars_on = {}
    hits = {}
    for index, geometry in enumerate(geometries, start=1):
        arrays = render_exposure(geometry, scene, spec, rng)
        stars_on[geometry.rootname] = arrays.n_stars
        hits[geometry.rootname] = arrays.hits
        path = out_dir / f"{geometry.rootname}_flt.fits"
        build_flt(geometry, arrays, spec, field).writeto(path, overwrite=True)
        flt_paths.append(path)
        progress(f"simulated {path.name} ({index}/{len(geometries)}, {arrays.n_stars} stars)")

    epoch = decimal_year(float(np.mean([g.expstart_mjd for g in geometries])))
    catalog = reference_catalog(scene, spec, epoch)
    catalog_path = out_dir / CATALOG_FILENAME
    catalog.write(catalog_path, format="ascii.ecsv", overwrite=True)
    truth_path = out_dir / TRUTH_FILENAME
    truth = _truth_document(field, geometries, errors, scene, stars_on, hits, catalog)
    truth_path.write_text(json.dumps(truth, indent=1))

    visits: dict[str, list[Path]] = {}
    for path, geometry in zip(flt_paths, geometries, strict=True):
        visits.setdefault(geometry.asn_id.lower(), []).append(path)
    drz_paths = _drizzle_visits(visits, out_dir, drizzle_visit, progress, workers)
    return SyntheticField(out_dir, tuple(flt_paths), tuple(drz_paths), catalog_path, truth_path)


def _drizzle_visit_apart(drizzle_visit, members: list[Path], output: str, out_dir: Path) -> Path:
    """Drizzle one visit in a folder of its own (AstroDrizzle's scratch files do not
    meet another visit's), then move its FLTs, DRZ and log back to ``out_dir``."""
    own = out_dir / f".visit-{output}"
    own.mkdir()
    moved = [Path(shutil.move(path, own / path.name)) for path in members]
    drz = drizzle_visit(moved, output, own)
    for path in own.iterdir():
        if path.suffix in (".fits", ".log"):
            shutil.move(path, out_dir / path.name)
    shutil.rmtree(own)
    return out_dir / drz.name


def _drizzle_visits(
    visits: dict[str, list[Path]],
    out_dir: Path,
    drizzle_visit: Callable[[list[Path], str, Path], Path],
    progress: Callable[[str], None],
    workers: int,
) -> list[Path]:
    """Drizzle every visit (in the order given), ``workers`` at a time."""
    if workers < 2 or len(visits) < 2:
        paths = []
        for index, (output, members) in enumerate(visits.items(), start=1):
            paths.append(drizzle_visit(members, output, out_dir))
            progress(f"drizzled visit {output} ({index}/{len(visits)})")
        return paths
    from skyqa.workers import worker_pool

    with worker_pool(min(workers, len(visits))) as pool:
        futures = {
            output: pool.submit(_drizzle_visit_apart, drizzle_visit, members, output, out_dir)
            for output, members in visits.items()
        }
        paths = []
        for index, (output, future) in enumerate(futures.items(), start=1):
            paths.append(future.result())
            progress(f"drizzled visit {output} ({index}/{len(visits)}, {workers} at a time)")
    return paths


@dataclass(frozen=True)
class Truth:
    """The injected quantities of a synthetic field, as read back from ``truth.json``."""

    document: dict
    exposures: tuple[ExposureGeometry, ...]
    pedestals_e_s: dict[str, float]
    pointing_errors: tuple[PointingError, ...]
    distortion: tuple[dict, ...] = ()
    """The detector's residual from the header SIP (`distortion_terms`); none in fields
    generated before skyqa simulated it."""


def load_truth(path: Path) -> Truth:
    """Read a synthetic field's ``truth.json``."""
    document = json.loads(Path(path).read_text())
    geometry_fields = {name for name in ExposureGeometry.__dataclass_fields__}
    exposures = []
    for entry in document["exposures"]:
        values = {key: value for key, value in entry.items() if key in geometry_fields}
        for key in ("crpix", "ltv", "true_crval", "header_crval", "jitter_mas"):
            if key in values:
                values[key] = tuple(values[key])
        for key in ("true_cd", "header_cd"):
            values[key] = tuple(tuple(row) for row in values[key])
        exposures.append(ExposureGeometry(**values))
    return Truth(
        document=document,
        exposures=tuple(exposures),
        pedestals_e_s={e["rootname"]: e["sky_pedestal_e_s"] for e in document["exposures"]},
        pointing_errors=tuple(PointingError(**error) for error in document["pointing_errors"]),
        distortion=tuple(document.get("distortion_residual", {}).get("terms", ())),
    )
