"""The replica's geometry: tangent-plane offsets, dates, the true and header WCS of each
exposure (pointing errors, jitter, distortion residual), planned from the field spec."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits
from numpy.typing import ArrayLike

from skyqa import wfc3ir
from skyqa.detectors import WFC3_IR, Detector
from skyqa.errors import FieldSpecError
from skyqa.field import PlannedExposure, SyntheticSpec

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    from astropy.wcs import WCS


ARCSEC_PER_RAD = 206264.80624709636


DAYS_PER_YEAR = 365.25


MJD_J2000 = 51544.5


def _matrix(values: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """A 2x2 array as the nested tuples the geometry records keep."""
    return (
        (float(values[0, 0]), float(values[0, 1])),
        (float(values[1, 0]), float(values[1, 1])),
    )


def tangent_offsets(
    ra_deg: ArrayLike, dec_deg: ArrayLike, ra0_deg: ArrayLike, dec0_deg: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (east, north) offsets in arcsec of sky positions from a tangent point."""
    ra, dec = np.deg2rad(ra_deg), np.deg2rad(dec_deg)
    ra0, dec0 = np.deg2rad(ra0_deg), np.deg2rad(dec0_deg)
    cos_c = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    east = np.cos(dec) * np.sin(ra - ra0) / cos_c
    north = (np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(ra - ra0)) / cos_c
    return east * ARCSEC_PER_RAD, north * ARCSEC_PER_RAD


def pixel_area_arcsec2(wcs: WCS, x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Each pixel's area on the sky (arcsec^2) at 0-based (x, y), through the full WCS (its
    SIP distortion included): the determinant of its Jacobian, by central differences
    in the tangent plane at each position."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ra, dec = wcs.all_pix2world(x, y, 0)
    step = 0.5
    columns = []
    for dx, dy in ((step, 0), (-step, 0), (0, step), (0, -step)):
        ra_moved, dec_moved = wcs.all_pix2world(x + dx, y + dy, 0)
        columns.append(tangent_offsets(ra_moved, dec_moved, ra, dec))
    dx_east, dx_north = (np.asarray(a) - b for a, b in zip(columns[0], columns[1], strict=True))
    dy_east, dy_north = (np.asarray(a) - b for a, b in zip(columns[2], columns[3], strict=True))
    return np.abs(dx_east * dy_north - dx_north * dy_east) / (2 * step) ** 2


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


STREAM_JITTER = 0x717732


STREAM_DISTORTION = 0xD157


STREAM_MOTION = 0x90710


STREAM_CATALOG = 0xCA7A


STREAM_HITS = 0xC05A1C


def decimal_year(mjd: float) -> float:
    """Julian-year epoch of a Modified Julian Date (J2000.0 = 2000.0)."""
    return 2000.0 + (mjd - MJD_J2000) / DAYS_PER_YEAR


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


def true_sky(
    wcs, x: np.ndarray, y: np.ndarray, terms, ltv: tuple[float, float] = (0.0, 0.0)
) -> tuple[np.ndarray, np.ndarray]:
    """(RA, Dec) that detector pixels ``(x, y)`` (0-based, in the array) really see: the
    true SIP ``wcs`` at ``p - residual(p)``, the residual taken at the full-frame position
    ``p - ltv`` (`distortion_residual`)."""
    dx, dy = distortion_residual(x - ltv[0], y - ltv[1], list(terms))
    return wcs.all_pix2world(x - dx, y - dy, 0)


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
    shape: tuple[int, int] = (0, 0)
    """(rows, columns) of the chip described; (0, 0): square, ``naxis`` a side (WFC3/IR)."""
    chip: int = 1
    """CCDCHIP of the chip described: a two-chip exposure has one geometry per chip."""
    extver: int = 1
    """The chip's SCI extension (EXTVER) in the exposure's file."""
    sip: bool = True
    """Whether the header carries the WFC3/IR SIP distortion (the CCD replicas have none:
    their real solutions' coefficients are not available offline)."""

    @property
    def rows_columns(self) -> tuple[int, int]:
        """(rows, columns) of the chip's array."""
        return (self.shape[0], self.shape[1]) if self.shape[0] else (self.naxis, self.naxis)

    def wcs_header(self, which: str = "true") -> fits.Header:
        """WCS keywords (CD, and SIP where the detector has it) of the true or the header
        WCS."""
        crval = self.true_crval if which == "true" else self.header_crval
        cd = self.true_cd if which == "true" else self.header_cd
        return sip_wcs_header(crval, np.array(cd), self.crpix, self.rows_columns, self.sip)

    def wcs(self, which: str = "true") -> WCS:
        """An astropy WCS (with SIP) of the true or the header WCS."""
        from astropy.wcs import WCS

        return WCS(self.wcs_header(which))


def sip_wcs_header(
    crval: tuple[float, float],
    cd: np.ndarray,
    crpix: tuple[float, float],
    naxis: int | tuple[int, int],
    sip: bool = True,
) -> fits.Header:
    """WCS keywords in the form drizzlepac needs: CD matrix (not PC) and, with ``sip``,
    the WFC3/IR SIP terms. ``naxis``: a square's side, or (rows, columns)."""
    rows, columns = (naxis, naxis) if isinstance(naxis, int) else naxis
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = columns
    header["NAXIS2"] = rows
    header["WCSAXES"] = (2, "Number of coordinate axes")
    header["CRPIX1"] = (crpix[0], "Pixel coordinate of reference point")
    header["CRPIX2"] = (crpix[1], "Pixel coordinate of reference point")
    header["CUNIT1"] = ("deg", "Units of coordinate increment and value")
    header["CUNIT2"] = ("deg", "Units of coordinate increment and value")
    if not sip:
        header["CTYPE1"] = ("RA---TAN", "TAN (gnomonic) projection")
        header["CTYPE2"] = ("DEC--TAN", "TAN (gnomonic) projection")
    else:
        header["CTYPE1"] = ("RA---TAN-SIP", "TAN (gnomonic) projection + SIP distortions")
        header["CTYPE2"] = ("DEC--TAN-SIP", "TAN (gnomonic) projection + SIP distortions")
    header["CRVAL1"] = (float(crval[0]), "[deg] Coordinate value at reference point")
    header["CRVAL2"] = (float(crval[1]), "[deg] Coordinate value at reference point")
    for i in range(2):
        for j in range(2):
            header[f"CD{i + 1}_{j + 1}"] = (float(cd[i, j]), "partial of axis coordinate")
    if not sip:
        return header
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


@dataclass(frozen=True)
class ChipLayout:
    """Where one chip (SCI extension) of a detector sits: its CCDCHIP, array size, CRPIX
    and LTV, and its centre's offset (pixels, along the detector's y axis) from the
    aperture reference point the exposure points at."""

    extver: int
    ccdchip: int
    rows_columns: tuple[int, int]
    crpix: tuple[float, float]
    ltv: tuple[float, float]
    offset_pix: float


def pixel_scale_arcsec(spec: SyntheticSpec, detector: Detector) -> float:
    """The replica's pixel scale: the spec's, else the detector's."""
    return spec.pixel_scale_arcsec or detector.plate_scale_arcsec


def chip_layout(spec: SyntheticSpec, detector: Detector) -> list[ChipLayout]:
    """The chips of the spec's detector, in file order.

    WFC3/IR: one square (sub)array of ``detector_size`` centred on the detector. The
    two-chip CCDs: ``[SCI,1]`` (CCDCHIP 2) below ``[SCI,2]`` (CCDCHIP 1) along y, the
    chip gap between them (its rows scaled to the replica's pixels, so that it spans the
    same sky), each chip ``chip_shape`` (rows, columns; default the detector's).
    """
    if detector.n_chips == 1:
        crpix, ltv = _subarray_geometry(spec.detector_size)
        size = (spec.detector_size, spec.detector_size)
        return [ChipLayout(1, detector.chips[0], size, crpix, ltv, 0.0)]
    rows, columns = spec.chip_shape if spec.chip_shape[0] else detector.chip_shape
    scale = detector.plate_scale_arcsec / pixel_scale_arcsec(spec, detector)
    gap = round(detector.chip_gap_rows * scale)
    centre = ((columns + 1) / 2.0, (rows + 1) / 2.0)
    half = (rows + gap) / 2.0
    return [
        ChipLayout(extver, ccdchip, (rows, columns), centre, (0.0, 0.0), half * (2 * extver - 3))
        for extver, ccdchip in enumerate(detector.chips, start=1)
    ]


def cd_matrix(orientat_deg: float, spec: SyntheticSpec, detector: Detector) -> np.ndarray:
    """The true CD matrix of an exposure at ``orientat_deg``: WFC3/IR's real skewed one
    turned to it; for the CCDs square pixels of the replica's scale, +y at ORIENTAT and
    East to the left of North (the sky's parity seen through HST)."""
    if detector.n_chips == 1:
        return wfc3ir.cd_for_orientat(orientat_deg)
    scale = pixel_scale_arcsec(spec, detector) / 3600.0
    theta = np.deg2rad(orientat_deg)
    return scale * np.array([[-np.cos(theta), np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def plan_geometry(
    spec: SyntheticSpec,
    ra_targ: float,
    dec_targ: float,
    rng: np.random.Generator,
    detector: Detector = WFC3_IR,
) -> tuple[list[ExposureGeometry], list[PointingError]]:
    """True and header WCS of every chip of every planned exposure (in plan order, chips
    in file order), and each visit's pointing error.

    The aperture reference point of an exposure points at the target offset by its
    POSTARGs along the detector axes; the true CD matrix is the detector's turned to the
    exposure's ORIENTAT (`cd_matrix`); each chip sits at its offset from that point
    (`chip_layout`). A visit's pointing error moves all its chips together.
    """
    layout = chip_layout(spec, detector)
    times = _observation_times(list(spec.exposures), rng)
    mjd_zero = dt.datetime(1858, 11, 17)
    true_pointing = {}
    for exposure in spec.exposures:
        cd = cd_matrix(exposure.orientat, spec, detector)
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
            aperture, cd = true_pointing[member.rootname]
            jitter_mas = jitter_rng.normal(0.0, spec.exposure_jitter_mas, size=2)
            start = times[member.rootname]
            for chip in layout:
                offset = aperture + cd @ np.array([0.0, chip.offset_pix]) * 3600.0
                header_offset = centre + turn @ (offset - centre) + shift + jitter_mas / 1000.0
                true_crval = from_tangent_offsets(offset[0], offset[1], ra_targ, dec_targ)
                header_crval = from_tangent_offsets(
                    header_offset[0], header_offset[1], ra_targ, dec_targ
                )
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
                        naxis=chip.rows_columns[1],
                        crpix=chip.crpix,
                        ltv=chip.ltv,
                        true_crval=(float(true_crval[0]), float(true_crval[1])),
                        true_cd=_matrix(cd),
                        header_crval=(float(header_crval[0]), float(header_crval[1])),
                        header_cd=_matrix(turn @ cd),
                        jitter_mas=(float(jitter_mas[0]), float(jitter_mas[1])),
                        shape=chip.rows_columns if detector.n_chips > 1 else (0, 0),
                        chip=chip.ccdchip,
                        extver=chip.extver,
                        sip=detector.n_chips == 1,
                    )
                )
    return geometries, errors
