"""Rendering one exposure's pixels: stars through the PSF, nebula, sky, noise, detector
defects and the unflagged hits the ramp fit leaves."""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from skyqa import wfc3ir
from skyqa.field import SyntheticSpec

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    pass

from skyqa.simulate.geometry import (
    STREAM_HITS,
    ExposureGeometry,
    distortion_residual,
    pixel_area_arcsec2,
    tangent_offsets,
    true_sky,
)
from skyqa.simulate.psf import library_stamp
from skyqa.simulate.scene import Scene

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
    image: np.ndarray,
    geometry: ExposureGeometry,
    scene: Scene,
    spec: SyntheticSpec,
    detector: str = "WFC3/IR",
) -> int:
    """Add the stars that fall on an exposure (through the detector's library PSF,
    `skyqa.simulate.psf`, or a Moffat profile: ``psf_model``); return how many did."""
    wcs = geometry.wcs("true")
    rows, columns = image.shape
    # The SIP polynomial diverges far from the detector: invert it exactly only for stars
    # that the linear WCS puts within the largest distortion (~10 pix) of the array.
    x_linear, y_linear = wcs.wcs_world2pix(scene.stars["ra"], scene.stars["dec"], 0)
    near = (np.abs(x_linear - columns / 2) < columns / 2 + 40) & (
        np.abs(y_linear - rows / 2) < rows / 2 + 40
    )
    stars = scene.stars[near]
    if len(stars) == 0:
        return 0
    x, y = wcs.all_world2pix(stars["ra"], stars["dec"], 0)
    dx, dy = distortion_residual(x - geometry.ltv[0], y - geometry.ltv[1], list(scene.distortion))
    x, y = x + dx, y + dy
    # A flat-fielded FLT holds a flat sky flat: a star's counts are its flux over its
    # pixels' relative area (the pixel area map; drizzle corrects it, an FLT does not).
    # The residual's long waves (>= 250 pixels) change the area by < 1e-3: left out.
    fluxes = np.asarray(stars["flux_e_s"], float) / relative_pixel_area(wcs, x, y, geometry)
    placed = 0
    for xs, ys, flux in zip(x, y, fluxes, strict=True):
        half = 12 if flux > 2000 else 8
        if not (-half <= xs < columns + half and -half <= ys < rows + half):
            continue
        xi, yi = int(np.round(xs)), int(np.round(ys))
        if spec.psf_model == "library":
            stamp = flux * library_stamp(detector, xs - xi, ys - yi, half)
        else:
            stamp = flux * _moffat_stamp(
                xs - xi, ys - yi, half, spec.psf_fwhm_pix, spec.psf_moffat_beta
            )
        x0, y0 = xi - half, yi - half
        sx0, sy0 = max(0, -x0), max(0, -y0)
        sx1 = min(stamp.shape[1], columns - x0)
        sy1 = min(stamp.shape[0], rows - y0)
        image[y0 + sy0 : y0 + sy1, x0 + sx0 : x0 + sx1] += stamp[sy0:sy1, sx0:sx1]
        placed += int(0 <= xs < columns and 0 <= ys < rows)
    return placed


def relative_pixel_area(wcs, x, y, geometry: ExposureGeometry) -> np.ndarray:
    """The pixel area map at (x, y): each pixel's area over the nominal pixel's, the
    header's IDCSCALE squared with the WFC3/IR SIP, else the linear WCS's own pixel (the
    CCD replicas have no distortion)."""
    nominal = (
        wfc3ir.IDC_KEYWORDS["IDCSCALE"] ** 2
        if geometry.sip
        else abs(float(np.linalg.det(np.asarray(geometry.true_cd)))) * 3600.0**2
    )
    return pixel_area_arcsec2(wcs, x, y) / nominal


def _nebula_image(geometry: ExposureGeometry, scene: Scene) -> np.ndarray:
    """The nebula seen by an exposure: evaluated at every pixel's true sky position.

    A pixel at ``p`` sees the sky the true SIP WCS puts at ``p - residual(p)``, as the
    stars do (`_add_stars`). Every pixel is evaluated, not a coarse grid interpolated: a
    spline through an 8-pixel grid was off by up to 0.024 e-/s along the array's edges
    (m16-uvis-sim), differently in each exposure, and the small overlaps between chip
    edges are where skyqa measures seams to a few thousandths of an e-/s.
    """
    rows, columns = geometry.rows_columns
    yy, xx = np.mgrid[0:rows, 0:columns].astype(float)
    ra, dec = true_sky(geometry.wcs("true"), xx.ravel(), yy.ravel(), scene.distortion, geometry.ltv)
    east, north = tangent_offsets(ra, dec, scene.ra_targ, scene.dec_targ)
    return scene.nebula_e_s(east, north).reshape(rows, columns)


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
