"""Writing an exposure as a WFC3/IR FLT file: the headers of a real one, and its arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from astropy.io import fits

from skyqa import wfc3ir
from skyqa.field import FieldSpec, SyntheticSpec

if TYPE_CHECKING:
    # Imported where the field is generated: a QA run reads only the truth (JSON).
    pass

from skyqa.simulate.geometry import ExposureGeometry
from skyqa.simulate.render import ExposureArrays


def observation_cards(
    geometry: ExposureGeometry,
    spec: SyntheticSpec,
    field: FieldSpec,
    orientat: float,
    extensions: int,
    suffix: str = "flt",
) -> list[tuple]:
    """The primary-header cards every HST exposure has: file, telescope and instrument,
    target, program, times, pointing (an instrument's own cards follow them)."""
    detector = field.detector_model
    expend = geometry.expstart_mjd + geometry.exptime / 86400.0
    return [
        ("ORIGIN", "skyqa.simulate", "FITS file originator"),
        ("DATE", geometry.date_obs, "date this file was written (yyyy-mm-dd)"),
        ("NEXTEND", extensions, "Number of standard extensions"),
        ("FILENAME", f"{geometry.rootname}_{suffix}.fits", "name of file"),
        ("FILETYPE", "SCI", "type of data found in data file"),
        ("TELESCOP", "HST", "telescope used to acquire data"),
        ("INSTRUME", detector.instrument, "identifier for instrument used to acquire data"),
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
    ]


def association_cards(geometry: ExposureGeometry) -> list[tuple]:
    """The cards naming the exposure's association (its visit)."""
    return [
        ("ASN_ID", geometry.asn_id, "unique identifier assigned to association"),
        ("ASN_TAB", f"{geometry.asn_id.lower()}_asn.fits", "name of the association table"),
        ("ASN_MTYP", "EXP-DTH", "Role of the Member in the Association"),
    ]


OFFLINE_REFERENCE_CARDS = [
    ("IDCTAB", "N/A", "no IDCTAB: SIP distortion in SCI header"),
    ("DGEOFILE", "N/A", "Distortion correction image"),
    ("NPOLFILE", "N/A", "origin of non-polynomial distortion model"),
    ("D2IMFILE", "N/A", "origin of detector to image correction"),
    ("MDRIZTAB", "N/A", "MultiDrizzle parameter table"),
]
"""Reference files set to 'N/A', so drizzlepac needs none (the project's reference notes)."""


def _primary_header(
    geometry: ExposureGeometry, spec: SyntheticSpec, field: FieldSpec, orientat: float
) -> fits.Header:
    subarray = geometry.naxis != wfc3ir.FULL_FRAME_PIX
    aperture = f"IRSUB{geometry.naxis}" if subarray else "IR"
    cards = observation_cards(geometry, spec, field, orientat, 5)
    cards += [
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
        *OFFLINE_REFERENCE_CARDS,
    ]
    cards += [(key, value, "photometry keyword") for key, value in wfc3ir.F160W_PHOTOMETRY.items()]
    cards += association_cards(geometry)
    cards += [
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
        *quality_cards(arrays.sci, arrays.err, good, wfc3ir.SDQFLAGS),
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


def quality_cards(sci: np.ndarray, err: np.ndarray, good: np.ndarray, flags: int) -> list[tuple]:
    """The SCI header's statistics of the good pixels, as calwf3 and calacs write them."""
    good_sci = sci[good]
    snr = good_sci / err[good]
    return [
        ("NGOODPIX", int(good.sum()), "number of good pixels"),
        ("SDQFLAGS", flags, "serious data quality flags"),
        ("GOODMIN", float(good_sci.min()), "minimum value of good pixels"),
        ("GOODMAX", float(good_sci.max()), "maximum value of good pixels"),
        ("GOODMEAN", float(good_sci.mean()), "mean value of good pixels"),
        ("SNRMIN", float(snr.min()), "minimum signal to noise of good pixels"),
        ("SNRMAX", float(snr.max()), "maximum signal to noise of good pixels"),
        ("SNRMEAN", float(snr.mean()), "mean value of signal to noise of good pixels"),
        ("SOFTERRS", 0, "number of soft error pixels (DQF=1)"),
    ]


def extension_header(extname: str, bunit: str, geometry: ExposureGeometry) -> fits.Header:
    """The header of an ERR, DQ, SAMP or TIME extension (EXTVER: the chip's)."""
    header = fits.Header(
        [
            ("EXTNAME", extname, "extension name"),
            ("EXTVER", geometry.extver, "extension version number"),
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
            fits.ImageHDU(arrays.err, header=extension_header("ERR", "ELECTRONS/S", geometry)),
            fits.ImageHDU(arrays.dq, header=extension_header("DQ", "UNITLESS", geometry)),
            fits.ImageHDU(arrays.samp, header=extension_header("SAMP", "UNITLESS", geometry)),
            fits.ImageHDU(arrays.time, header=extension_header("TIME", "SECONDS", geometry)),
        ]
    )
