"""What the data say about themselves before any processing (tutorial sections 1.1, 1.2).

The header table has one row per exposure; the delivered-WCS table one row per visit
DRZ, with the RMS of the archive's own alignment in mas and in pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.detectors import WFC3_IR, Detector, detector_of
from skyqa.download import fits_problem
from skyqa.errors import UnknownDetectorError
from skyqa.wfc3ir import PLATE_SCALE_ARCSEC

HEADER_KEYWORDS = (
    "ROOTNAME", "ASN_ID", "TARGNAME", "DETECTOR", "FILTER", "EXPTIME", "RA_TARG",
    "DEC_TARG", "POSTARG1", "POSTARG2", "DATE-OBS",
)  # fmt: skip


def science_extvers(hdul: fits.HDUList) -> list[int]:
    """The EXTVER of each SCI extension, in file order ([1] for WFC3/IR, [1, 2] for the
    two-chip CCDs, whose [SCI,1] holds CCDCHIP 2)."""
    return [int(hdu.ver) for hdu in hdul if hdu.name == "SCI"]


def chip_of(header: fits.Header, extver: int, chips: int) -> int:
    """The CCDCHIP of a SCI extension of a ``chips``-chip exposure; 0 for one chip (the
    tables of one-chip detectors have no chip column)."""
    return int(header.get("CCDCHIP", extver)) if chips > 1 else 0


def to_rate(primary: fits.Header, science: fits.Header, value):
    """``value`` in the extension's units (BUNIT) as e-/s: ELECTRONS are divided by the
    exposure's EXPTIME; anything else is returned as it is."""
    if str(science.get("BUNIT", "")).strip().upper() == "ELECTRONS":
        return value / float(primary["EXPTIME"])
    return value


def chip_name(file_name: str, extver: int) -> str:
    """How skyqa names one chip of a file in its tables: the file name for ``[SCI,1]``
    (all of a one-chip exposure), ``<file>[sci,N]`` for ``[SCI,N]``, as drizzlepac
    writes an extension."""
    return file_name if extver == 1 else f"{file_name}[sci,{extver}]"


def sci_headers(paths: Sequence[Path]) -> dict[str, fits.Header]:
    """Every SCI header of every file, by `chip_name`, in file order."""
    headers = {}
    for path in paths:
        with fits.open(path) as hdul:
            for extver in science_extvers(hdul):
                headers[chip_name(path.name, extver)] = hdul["SCI", extver].header.copy()
    return headers


def rootname_of(primary_header: fits.Header, path: Path) -> str:
    """An exposure's lower-case rootname: ROOTNAME, else the first 9 characters of its name."""
    return str(primary_header.get("ROOTNAME", path.name[:9])).strip().lower()


def _value(header: fits.Header, key: str):
    value = header.get(key, np.nan)
    return value.strip() if isinstance(value, str) else value


def filter_of(primary: fits.Header):
    """The exposure's filter: FILTER (WFC3); on ACS, whose two wheels are FILTER1 and
    FILTER2, the one that is not a CLEAR position (both, joined by '+', if neither is);
    NaN if the header has none of them."""
    if "FILTER" in primary:
        return _value(primary, "FILTER")
    wheels = [_value(primary, key) for key in ("FILTER1", "FILTER2") if key in primary]
    named = [name for name in wheels if not str(name).upper().startswith("CLEAR")]
    return "+".join(map(str, named or wheels)) if wheels else np.nan


def header_table(flt_paths: Sequence[Path]) -> pd.DataFrame:
    """Primary keywords of each exposure (FILTER by `filter_of`), and ORIENTAT from its
    first SCI header."""
    rows = []
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary, science = hdul[0].header, hdul["SCI", 1].header
            row = {key: _value(primary, key) for key in HEADER_KEYWORDS}
            row["FILTER"] = filter_of(primary)
            row["ORIENTAT"] = _value(science, "ORIENTAT")
        row["FILENAME"] = path.name
        rows.append(row)
    return pd.DataFrame(rows, columns=["FILENAME", *HEADER_KEYWORDS, "ORIENTAT"])


def delivered_wcs_table(
    drz_paths: Sequence[Path], plate_scale_arcsec: float = PLATE_SCALE_ARCSEC
) -> pd.DataFrame:
    """The WCS each visit DRZ came with: WCSNAME, NMATCHES, RMS_RA/RMS_DEC (mas, and pixels
    of ``plate_scale_arcsec``: the detector's, as the archive's RMS is read in the
    notebooks; WFC3/IR's by default)."""
    rows = []
    for path in drz_paths:
        header = fits.getheader(path, ("SCI", 1))
        rms_ra, rms_dec = (float(header.get(key, np.nan)) for key in ("RMS_RA", "RMS_DEC"))
        rows.append(
            {
                "FILENAME": path.name,
                "DETECTOR": _value(fits.getheader(path, 0), "DETECTOR"),
                "WCSNAME": _value(header, "WCSNAME"),
                "NMATCHES": header.get("NMATCHES", 0),
                "RMS_RA": rms_ra,
                "RMS_DEC": rms_dec,
                "RMS_RA_pix": rms_ra / 1000.0 / plate_scale_arcsec,
                "RMS_DEC_pix": rms_dec / 1000.0 / plate_scale_arcsec,
            }
        )
    return pd.DataFrame(rows)


REQUIRED_PRIMARY = (
    "TELESCOP", "INSTRUME", "DETECTOR", "EXPTIME", "EXPEND", "ROOTNAME",
    "ATODGNA", "ATODGNB", "ATODGNC", "ATODGND", "READNSEA", "READNSEB", "READNSEC", "READNSED",
)  # fmt: skip
REQUIRED_SCI = (
    "CTYPE1", "CTYPE2", "CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1",
    "CD2_2", "NGOODPIX", "MEANDARK", "EXPNAME", "BUNIT", "WCSNAME",
)  # fmt: skip
"""Keywords AstroDrizzle fails without on WFC3/IR (measured with drizzlepac 3.11), plus
those skyqa reads: EXPTIME (a file without it is silently dropped), BUNIT (units),
WCSNAME (tweakback), ROOTNAME (the MDRIZSKY table)."""


def input_problem(path: Path, detector: Detector = WFC3_IR) -> str | None:
    """Why an exposure or visit mosaic cannot go into the pipeline, or None.

    The file must open and read to its end (a truncated or corrupt file fails). An
    exposure (``*_<detector.inputs>.fits``) must be of ``detector`` (INSTRUME/DETECTOR)
    and carry the keywords AstroDrizzle needs in its primary header and in every SCI
    extension the detector has (IDCSCALE too on the two-chip CCDs: stwcs fails without).
    """

    problem = fits_problem(path, None)
    if problem is not None:
        return f"{path.name} is {problem}"
    if not path.name.endswith(f"_{detector.inputs}.fits"):
        return None
    required_sci = REQUIRED_SCI + (("IDCSCALE",) if detector.n_chips > 1 else ())
    with fits.open(path) as hdul:
        primary = hdul[0].header
        missing = [f"{key} (primary header)" for key in REQUIRED_PRIMARY if key not in primary]
        for extension in detector.sci_extensions():
            try:
                science = hdul[extension].header
            except KeyError:
                return f"{path.name} has no {extension[0]},{extension[1]} extension"
            where = f"{extension[0]},{extension[1]} header"
            missing += [f"{key} ({where})" for key in required_sci if key not in science]
    if missing:
        return f"{path.name} lacks {', '.join(missing)}, which AstroDrizzle needs"
    try:
        found = detector_of(primary, path.name)
    except UnknownDetectorError as error:
        return str(error).rstrip(".")
    if found is not detector:
        return f"{path.name} is a {found.name} exposure, not {detector.name} as the field says"
    return None


def duplicate_rootnames(paths: list[Path]) -> str:
    """A sentence naming FLTs that share a ROOTNAME (the same exposure twice: a HAP
    ``hst_..._flt.fits`` beside the CALWF3 one would be drizzled twice), or ""."""
    seen: dict[str, list[str]] = {}
    for path in paths:
        if path.name.endswith("_flt.fits"):
            root = rootname_of(fits.getheader(path), path)
            seen.setdefault(root, []).append(path.name)
    repeated = {root: names for root, names in seen.items() if len(names) > 1}
    if not repeated:
        return ""
    listed = "; ".join(f"{root}: {', '.join(names)}" for root, names in sorted(repeated.items()))
    return (
        f"{len(repeated)} exposure(s) appear in more than one FLT ({listed}): each would be "
        "drizzled twice. Keep one file per ROOTNAME (the CALWF3 `<rootname>_flt.fits`)."
    )
