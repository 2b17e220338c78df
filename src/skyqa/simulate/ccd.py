"""Two-chip CCD exposures (WFC3/UVIS, ACS/WFC): each chip's pixels in electrons with the
cosmic rays AstroDrizzle must reject, and the FLC file holding both chips.

The sky scene (stars, nebula, pedestals in e-/s) is the one every replica shares
(`skyqa.simulate.scene`); a chip sees it through its own WCS (`plan_geometry` gives one
geometry per chip). What differs from WFC3/IR, with its source in the project's
reference notes ("Two-chip detectors") and the instrument handbooks:

- pixels are ELECTRONS (BUNIT), not e-/s: AstroDrizzle divides by EXPTIME itself;
- cosmic rays are in the data and not flagged (calwf3 and calacs flag them only when
  combining CR-SPLITs; the drizzle step flags them 4096);
- ``[SCI,1]`` holds CCDCHIP 2, ``[SCI,2]`` CCDCHIP 1, each with its ERR and DQ;
- the distortion: the real solutions' SIP coefficients are not available offline, so
  the headers are linear (TAN) and the truth differs from them only by the spec's
  residual field; IDCSCALE is written (stwcs fails without it).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
from astropy.io import fits

from skyqa import wfc3ir
from skyqa.detectors import Detector
from skyqa.field import FieldSpec, SyntheticSpec
from skyqa.simulate.files import (
    OFFLINE_REFERENCE_CARDS,
    association_cards,
    extension_header,
    observation_cards,
    quality_cards,
)
from skyqa.simulate.geometry import ExposureGeometry, pixel_scale_arcsec
from skyqa.simulate.render import _add_stars, _nebula_image
from skyqa.simulate.scene import Scene

STREAM_COSMIC_RAYS = 0xC05A1
STREAM_CCD_DEFECTS = 0xCCDDEF

DQ_BAD_DETECTOR = 4
DQ_HOT = 16
DQ_WARM = 64
SERIOUS_FLAGS = 32767 - DQ_WARM - DQ_HOT
"""DQ bits of the CCD replicas: bad pixel (4), hot (16) and warm (64) pixels, the last two
with valid data (the align_mosaics notebook drizzles with final_bits "64, 16")."""

AMPLIFIERS = {
    "WFC3/UVIS": {"gain": 1.55, "read_noise": 3.1},
    "ACS/WFC": {"gain": 2.0, "read_noise": 4.2},
}
"""Calibrated gain (e-/DN) and read noise (e-) of the four amplifiers, rounded from the
WFC3 and ACS instrument handbooks (the same for A-D here)."""

FILTERS = {"WFC3/UVIS": {"FILTER": "F657N"}, "ACS/WFC": {"FILTER1": "F658N", "FILTER2": "CLEAR2L"}}
"""The filter keywords of each replica (M16's F657N; the Horsehead parallels' F658N)."""


@dataclass
class ChipArrays:
    """One chip's SCI, ERR and DQ in electrons, with what went into them."""

    sci: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    n_stars: int
    cosmic_ray_pixels: int
    hits: list[dict] = field(default_factory=list)


def _chip_defects(shape: tuple[int, int], spec: SyntheticSpec, chip: int) -> dict[str, np.ndarray]:
    """A chip's fixed defects, the same in every exposure: hot and warm pixels, dead ones."""
    rng = np.random.default_rng([spec.seed, STREAM_CCD_DEFECTS, chip])
    draw = rng.uniform(size=shape)
    return {
        "hot": draw < spec.hot_pixel_fraction,
        "warm": (draw >= spec.hot_pixel_fraction) & (draw < 2 * spec.hot_pixel_fraction),
        "dead": rng.uniform(size=shape) < spec.dead_pixel_fraction,
        "hot_dark_e_s": rng.uniform(0.05, 1.0, size=shape),
    }


def add_cosmic_rays(
    electrons: np.ndarray, geometry: ExposureGeometry, spec: SyntheticSpec
) -> tuple[int, list[dict]]:
    """Add unflagged cosmic-ray tracks (1-6 pixels, 200-5000 electrons each pixel) hitting
    about ``cosmic_ray_fraction_per_ks`` of the pixels per 1000 s. Returns the number of
    pixels hit and one entry per track (0-based start pixel, length, electrons)."""
    fraction = spec.cosmic_ray_fraction_per_ks * geometry.exptime / 1000.0
    if fraction <= 0:
        return 0, []
    rng = np.random.default_rng(
        [spec.seed, STREAM_COSMIC_RAYS, zlib.crc32(geometry.rootname.encode()), geometry.chip]
    )
    rows, columns = electrons.shape
    hit = np.zeros(electrons.shape, dtype=bool)
    tracks = []
    for _ in range(round(fraction * electrons.size / 3.5)):
        x, y = int(rng.integers(0, columns)), int(rng.integers(0, rows))
        step = rng.choice([(1, 0), (0, 1), (1, 1), (1, -1)])
        length = int(rng.integers(1, 7))
        level = float(np.exp(rng.uniform(np.log(200.0), np.log(5000.0))))
        for k in range(length):
            xi, yi = x + k * int(step[0]), y + k * int(step[1])
            if 0 <= xi < columns and 0 <= yi < rows:
                electrons[yi, xi] += level
                hit[yi, xi] = True
        tracks.append({"kind": "cosmic ray", "x": x, "y": y, "length": length, "e": level})
    return int(hit.sum()), tracks


def render_chip(
    geometry: ExposureGeometry,
    scene: Scene,
    spec: SyntheticSpec,
    rng: np.random.Generator,
    detector: str = "WFC3/UVIS",
) -> ChipArrays:
    """Render one chip: the scene in e-/s, times EXPTIME, with noise, dark, defects and
    cosmic rays, in electrons (dark subtracted, as in a calibrated FLC)."""
    shape = geometry.rows_columns
    signal = np.full(shape, scene.pedestal_e_s[geometry.rootname])
    signal += _nebula_image(geometry, scene)
    n_stars = _add_stars(signal, geometry, scene, spec, detector)
    defects = _chip_defects(shape, spec, geometry.chip)
    exptime = geometry.exptime
    dark = np.where(defects["hot"] | defects["warm"], defects["hot_dark_e_s"], spec.dark_e_s)
    response = np.where(defects["dead"], 0.02, 1.0)
    expected = (signal * response + dark) * exptime
    electrons = rng.poisson(expected).astype(float) + rng.normal(0, spec.read_noise_e, shape)
    hit_pixels, tracks = add_cosmic_rays(electrons, geometry, spec)
    dq = np.zeros(shape, dtype=np.int16)
    dq[defects["hot"]] |= DQ_HOT
    dq[defects["warm"]] |= DQ_WARM
    dq[defects["dead"]] |= DQ_BAD_DETECTOR
    return ChipArrays(
        sci=(electrons - dark * exptime).astype(np.float32),
        err=np.sqrt(expected + spec.read_noise_e**2).astype(np.float32),
        dq=dq,
        n_stars=n_stars,
        cosmic_ray_pixels=hit_pixels,
        hits=tracks,
    )


def _ccd_primary_header(
    geometry: ExposureGeometry, spec: SyntheticSpec, field: FieldSpec, orientat: float
) -> fits.Header:
    detector = field.detector_model
    amplifier = AMPLIFIERS[detector.name]
    cards = observation_cards(geometry, spec, field, orientat, 3 * detector.n_chips, "flc")
    cards += [
        ("CAL_VER", "skyqa synthetic", "calibration code version"),
        ("OBSTYPE", "IMAGING", "observation type - imaging or spectroscopic"),
        ("OBSMODE", "ACCUM", "operating mode"),
        ("SUBARRAY", False, "data from a subarray (T) or full frame (F)"),
        ("DETECTOR", detector.detector, "detector in use"),
        *((key, value, "element selected from filter wheel") for key, value in
          FILTERS[detector.name].items()),
        ("APERTURE", detector.detector, "aperture name"),
        ("CRSPLIT", 1, "number of cosmic ray split exposures"),
        ("CRCORR", "OMIT", "combine observations to reject cosmic rays"),
        ("DRIZCORR", "COMPLETE", "drizzle processing"),
        *OFFLINE_REFERENCE_CARDS,
        *association_cards(geometry),
        ("CCDAMP", "ABCD", "CCD Amplifier Readout Configuration"),
        ("CCDGAIN", amplifier["gain"], "commanded gain of CCD"),
    ]  # fmt: skip
    for amp in "ABCD":
        cards.append((f"ATODGN{amp}", amplifier["gain"], "calibrated gain for amplifier"))
    for amp in "ABCD":
        cards.append((f"READNSE{amp}", amplifier["read_noise"], "calibrated read noise (e-)"))
    header = fits.Header(cards)
    header.comments["IDCTAB"] = "no IDCTAB: linear WCS in the SCI headers"
    header.add_history(f"Synthetic {detector.name} exposure made by skyqa.simulate (no real data).")
    return header


def _ccd_science_header(
    geometry: ExposureGeometry, arrays: ChipArrays, spec: SyntheticSpec, detector: Detector
) -> fits.Header:

    orientat = wfc3ir.position_angle_of_y(np.array(geometry.header_cd))
    rows, columns = geometry.rows_columns
    good = arrays.dq & SERIOUS_FLAGS == 0
    header = fits.Header(
        [
            ("EXTNAME", "SCI", "extension name"),
            ("EXTVER", geometry.extver, "extension version number"),
            ("INHERIT", True, "inherit the primary header"),
            ("ROOTNAME", geometry.rootname, "rootname of the observation set"),
            ("EXPNAME", geometry.rootname, "exposure identifier"),
            ("BUNIT", detector.units, "brightness units"),
            ("CCDCHIP", geometry.chip, "CCD chip (1 or 2)"),
            ("LTV1", geometry.ltv[0], "offset in X to subsection start"),
            ("LTV2", geometry.ltv[1], "offset in Y to subsection start"),
            ("LTM1_1", 1.0, "reciprocal of sampling rate in X"),
            ("LTM2_2", 1.0, "reciprocal of sampling rate in Y"),
            ("ORIENTAT", orientat, "position angle of image y axis (deg. e of n)"),
            ("PA_APER", round(orientat, 4), "Position Angle of reference aperture center"),
            ("VAFACTOR", 1.0, "velocity aberration scale (not simulated)"),
            ("SIZAXIS1", columns, "subarray axis1 size in unbinned detector pixels"),
            ("SIZAXIS2", rows, "subarray axis2 size in unbinned detector pixels"),
            ("BINAXIS1", 1, "axis1 data bin size in unbinned detector pixels"),
            ("BINAXIS2", 1, "axis2 data bin size in unbinned detector pixels"),
            *quality_cards(arrays.sci, arrays.err, good, SERIOUS_FLAGS),
            ("MEANDARK", spec.dark_e_s * geometry.exptime, "average of the dark values (e-)"),
            ("MEANBLEV", 2500.0, "average of all bias levels subtracted"),
            ("RADESYS", "ICRS", "Equatorial coordinate system"),
            ("IDCSCALE", pixel_scale_arcsec(spec, detector), "pixel scale (arcsec)"),
            ("IDCTHETA", 0.0, "orientation of detector's Y-axis w.r.t. V3 axis"),
            ("IDCXREF", geometry.crpix[0], "reference pixel location in X"),
            ("IDCYREF", geometry.crpix[1], "reference pixel location in Y"),
        ]
    )
    for card in geometry.wcs_header("header").cards:
        if card.keyword not in ("NAXIS", "NAXIS1", "NAXIS2"):
            header.append(card)
    header["WCSNAME"] = ("OPUS", "Coordinate system title (linear WCS)")
    return header


def build_flc(
    chips: list[ExposureGeometry],
    arrays: list[ChipArrays],
    spec: SyntheticSpec,
    field: FieldSpec,
) -> fits.HDUList:
    """Assemble a two-chip FLC: primary + (SCI, ERR, DQ) per chip, in file order."""
    detector = field.detector_model
    sciences = [
        _ccd_science_header(geometry, chip, spec, detector)
        for geometry, chip in zip(chips, arrays, strict=True)
    ]
    primary = _ccd_primary_header(chips[0], spec, field, sciences[0]["ORIENTAT"])
    hdus: list[fits.hdu.base.ExtensionHDU] = []
    for geometry, chip, science in zip(chips, arrays, sciences, strict=True):
        hdus += [
            fits.ImageHDU(chip.sci, header=science),
            fits.ImageHDU(chip.err, header=extension_header("ERR", detector.units, geometry)),
            fits.ImageHDU(chip.dq, header=extension_header("DQ", "UNITLESS", geometry)),
        ]
    return fits.HDUList([fits.PrimaryHDU(header=primary), *hdus])
