"""Alignment of the visit mosaics to a reference catalog, and its transfer to the FLTs.

The tutorial's recipe, on copies in one working directory:

1. TweakReg on the visit DRZs with ``updatehdr=True``: writes the shift file and the
   per-image match files, and the fitted WCS into the DRZs (the old one is archived as an
   alternate WCS). The tutorial first runs the same fit with ``updatehdr=False`` to look
   at it; skyqa's checks are that look, and that pass writes the very same shift and
   match files (held to it by ``tests/integration/test_tweakreg_passes.py``, which the
   tox matrix runs in every drizzlepac environment), so it is not repeated here;
2. tweakback (`drizzlepac.tweakback.apply_tweak`) on each DRZ, naming as the original
   WCS the DRZ's WCSNAME read *before* step 1. Passing the name read after the update is
   a silent no-op (docs/drizzlepac.md), which is why the SCI header of every DRZ and FLT is
   kept from before the update, for the checks to prove that each one really moved.

`verify_alignment` then runs TweakReg once more, ``updatehdr=False``, on copies of the
updated DRZs: its shift file holds the residual shift, rotation and scale left after the
update (ideally none). It is a stage of its own, built while the mosaics are drizzled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.detectors import WFC3_IR, Detector
from skyqa.errors import PipelineStepError
from skyqa.field import TweakRegSpec
from skyqa.headers import sci_headers
from skyqa.sandbox import console_to, copy_inputs, working_directory

if TYPE_CHECKING:
    from astropy.table import Table

ALIGNED_WCSNAME = "SKYQA_GAIA"
SHIFT_FILE = "shift_drz.txt"
RESIDUAL_SHIFT_FILE = "residual_shift_drz.txt"
HEADERS_BEFORE_DIR = "headers_before"
CATALOG_FILE = "reference_catalog.txt"
LOG_FILE = "tweakreg.log"
FIT_TABLE = "fit_table.csv"
WCS_TABLE = "wcs_record.csv"

SHIFT_COLUMNS = ["image", "xsh_pix", "ysh_pix", "rot_deg", "scale", "xrms_pix", "yrms_pix"]
WCS_COLUMNS = ["file", "stage", "wcsname", "crval1", "crval2", "cd1_1", "cd1_2", "cd2_1", "cd2_2"]


def parse_shift_file(path: Path) -> pd.DataFrame:
    """Read a TweakReg shift file into a table, keeping NaN and inf as they are.

    Returns
    -------
    pandas.DataFrame
        One row per image, columns `SHIFT_COLUMNS` plus ``line`` (1-based line number in
        the file). Shifts are in pixels of the shift file's frame, with the opposite sign
        to the image-to-reference translation; rotation is in degrees modulo 360.

    Raises
    ------
    PipelineStepError
        If a data line does not have 7 columns.
    """
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != len(SHIFT_COLUMNS):
            raise PipelineStepError(
                f"{path} line {number} has {len(fields)} columns, expected "
                f"{len(SHIFT_COLUMNS)} ({', '.join(SHIFT_COLUMNS)}): {line.strip()!r}"
            )
        rows.append([fields[0], *(float(value) for value in fields[1:]), number])
    return pd.DataFrame(rows, columns=[*SHIFT_COLUMNS, "line"])


def match_file(directory: Path, drz: Path) -> Path:
    """Where TweakReg writes the matched sources of a visit DRZ against the catalog."""
    return directory / f"{drz.stem}_catalog_fit.match"


def match_rows(path: Path) -> list[list[str]]:
    """The data lines of a TweakReg ``.match`` file, split into their fields ([] if absent).

    Fields 0-7 are the reference and input positions and their fit residuals; 10 and 11 the
    source's original position in the input image (1-based pixels).
    """
    if not path.is_file():
        return []
    lines = path.read_text().splitlines()
    return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def count_matches(path: Path) -> int:
    """Number of matched sources in a TweakReg ``*_catalog_fit.match`` file (0 if absent)."""
    return len(match_rows(path))


def wcs_record(headers: Mapping[str, fits.Header], stage: str) -> pd.DataFrame:
    """The primary WCS of SCI headers (file name -> header), one row per file."""
    rows = []
    for name, header in headers.items():
        rows.append(
            {
                "file": name,
                "stage": stage,
                "wcsname": str(header.get("WCSNAME", "")),
                **{
                    key.lower(): float(header.get(key, math.nan))
                    for key in ("CRVAL1", "CRVAL2", "CD1_1", "CD1_2", "CD2_1", "CD2_2")
                },
            }
        )
    return pd.DataFrame(rows, columns=WCS_COLUMNS)


def read_wcs_record(paths: Sequence[Path], stage: str) -> pd.DataFrame:
    """`wcs_record` of every SCI extension of each file (`skyqa.headers.chip_name`)."""
    return wcs_record(sci_headers(paths), stage)


def signed_rotation(rotation_deg: pd.Series) -> pd.Series:
    """Rotation modulo 360 (as TweakReg writes it) as a signed angle in (-180, 180]."""
    return -((180.0 - rotation_deg) % 360.0 - 180.0)


def save_sci_headers(headers: Mapping[str, fits.Header], directory: Path) -> None:
    """Keep SCI headers (file name -> header) as ``<directory>/<file name>.hdr`` (FITS text)."""
    directory.mkdir(exist_ok=True)
    for name, header in headers.items():
        header.totextfile(directory / f"{name}.hdr")


def drz_members(drz_path: Path) -> list[str]:
    """FLT file names a DRZ was drizzled from (its D00nDATA keywords, build=True output;
    once each: a two-chip exposure is listed once per chip there)."""
    header = fits.getheader(drz_path, 0)
    names: list[str] = []
    for index in range(1, 1000):
        value = header.get(f"D{index:03d}DATA")
        if value is None:
            break
        name = str(value).split("[")[0]
        if name not in names:
            names.append(name)
    return names


def write_tweakreg_catalog(catalog: Table, path: Path) -> None:
    """Write ``ra dec [mag]`` as TweakReg reads a reference catalog (commented header)."""
    columns = [name for name in ("ra", "dec", "mag") if name in catalog.colnames]
    catalog[columns].write(path, format="ascii.commented_header", overwrite=True)


@dataclass(frozen=True)
class AlignmentResult:
    """What the alignment step produced, in its own working directory.

    ``shift_table``: the shift file (`parse_shift_file`). ``fit_table``: per visit DRZ,
    ``image``, ``n_matches`` and ``xrms_pix``/``yrms_pix`` of the fit. ``wcs_record``:
    the primary WCS of every DRZ and FLT ``before`` and ``after`` (`WCS_COLUMNS`).
    ``orig_wcs_names``: per DRZ, the WCSNAME passed to tweakback as the original WCS.
    ``headers_before``: directory of every DRZ's and FLT's SCI header before the update
    (`headers_before_update`).
    """

    directory: Path
    aligned_flt_paths: tuple[Path, ...]
    visit_drz_paths: tuple[Path, ...]
    shift_file: Path
    shift_table: pd.DataFrame
    fit_table: pd.DataFrame
    wcs_record: pd.DataFrame
    orig_wcs_names: dict[str, str]
    log_path: Path
    headers_before: Path

    def headers_before_update(self, name: str) -> fits.Header:
        """The SCI header of a DRZ or FLT (by file name; by `skyqa.headers.chip_name` for
        the other chips of a two-chip exposure) as it was before alignment."""
        return fits.Header.fromtextfile(self.headers_before / f"{name}.hdr")

    @property
    def log_text(self) -> str:
        """Everything TweakReg and tweakback printed."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def to_record(self) -> dict:
        """JSON-able description, paths relative to ``directory``; writes the tables."""
        self.fit_table.to_csv(self.directory / FIT_TABLE, index=False)
        self.wcs_record.to_csv(self.directory / WCS_TABLE, index=False)
        return {
            "aligned_flt_paths": [path.name for path in self.aligned_flt_paths],
            "visit_drz_paths": [path.name for path in self.visit_drz_paths],
            "shift_file": self.shift_file.name,
            "orig_wcs_names": self.orig_wcs_names,
            "log_path": self.log_path.name,
            "headers_before": self.headers_before.name,
        }

    @classmethod
    def from_record(cls, directory: Path, record: dict) -> AlignmentResult:
        """Rebuild from `to_record` output found in ``directory``."""
        return cls(
            directory=directory,
            aligned_flt_paths=tuple(directory / name for name in record["aligned_flt_paths"]),
            visit_drz_paths=tuple(directory / name for name in record["visit_drz_paths"]),
            shift_file=directory / record["shift_file"],
            shift_table=parse_shift_file(directory / record["shift_file"]),
            fit_table=pd.read_csv(directory / FIT_TABLE),
            wcs_record=pd.read_csv(directory / WCS_TABLE).fillna({"wcsname": ""}),
            orig_wcs_names=record["orig_wcs_names"],
            log_path=directory / record["log_path"],
            headers_before=directory / record["headers_before"],
        )


def _tweakreg_parameters(params: TweakRegSpec, detector: Detector) -> dict:
    """The field's TweakReg parameters, with what its detector's visit mosaics need
    (`Detector.tweakreg`, `Detector.imagefind`: the two-chip CCDs' looser matching
    tolerance and sharpness/roundness cuts)."""
    imagefind = {"threshold": params.threshold, "conv_width": params.conv_width}
    return {
        **detector.tweakreg,
        "imagefindcfg": {**imagefind, **detector.imagefind},
        "refcat": CATALOG_FILE,
        "minobj": params.minobj,
        "searchrad": params.searchrad,
        "searchunits": "arcseconds",
        "ylimit": params.ylimit,
        "nclip": params.nclip,
        "fitgeometry": params.fitgeometry,
        "interactive": False,
        "see2dplot": False,
        "residplot": "No plot",
        "shiftfile": True,
        "outshifts": SHIFT_FILE,
        "wcsname": ALIGNED_WCSNAME,
        "reusename": True,
        "clean": False,
    }


def align_visits(
    flt_paths: Sequence[Path],
    visit_drz_paths: Sequence[Path],
    catalog: Table,
    params: TweakRegSpec,
    workdir: Path,
    detector: Detector = WFC3_IR,
) -> AlignmentResult:
    """Align the visit DRZs to ``catalog`` and carry each fit back to its FLTs.

    Parameters
    ----------
    flt_paths, visit_drz_paths : sequence of Path
        The exposures and their visit mosaics; copied into ``workdir``, never modified.
    catalog : astropy.table.Table
        Reference catalog with columns ra, dec (deg) and optionally mag.
    params : TweakRegSpec
        TweakReg parameters of the field.
    detector : Detector
        The exposures' detector (its own TweakReg needs, `_tweakreg_parameters`).
    workdir : Path
        A new directory for this step.

    Returns
    -------
    AlignmentResult

    Raises
    ------
    PipelineStepError
        If TweakReg or tweakback raises, or no shift file is written.
    """
    flts = copy_inputs(flt_paths, workdir)
    drzs = copy_inputs(visit_drz_paths, workdir)
    write_tweakreg_catalog(catalog, workdir / CATALOG_FILE)
    log_path = workdir / LOG_FILE
    headers = sci_headers([*drzs, *flts])
    wcs_before = wcs_record(headers, "before")
    save_sci_headers(headers, workdir / HEADERS_BEFORE_DIR)
    names = [path.name for path in drzs]

    with working_directory(workdir), console_to(log_path):
        try:
            from drizzlepac import tweakback, tweakreg

            orig_wcs_names = {name: str(headers[name]["WCSNAME"]) for name in names}
            tweakreg.TweakReg(
                names, updatehdr=True, runfile=LOG_FILE, **_tweakreg_parameters(params, detector)
            )
            if not (workdir / SHIFT_FILE).is_file():
                raise PipelineStepError(f"TweakReg wrote no shift file {SHIFT_FILE}")
            for name in names:
                tweakback.apply_tweak(f"{name}[sci,1]", orig_wcs_name=orig_wcs_names[name])
        except Exception as error:
            raise PipelineStepError(
                f"Alignment failed in {workdir}: {error}. Read the log, {log_path}."
            ) from error

    shift_table = parse_shift_file(workdir / SHIFT_FILE)
    fit_rows = []
    for drz in drzs:
        in_shift = shift_table[shift_table["image"] == drz.name]
        fit_rows.append(
            {
                "image": drz.name,
                "n_matches": count_matches(match_file(workdir, drz)),
                "xrms_pix": float(in_shift["xrms_pix"].iloc[0]) if len(in_shift) else np.nan,
                "yrms_pix": float(in_shift["yrms_pix"].iloc[0]) if len(in_shift) else np.nan,
            }
        )
    wcs_after = read_wcs_record([*drzs, *flts], "after")
    wcs_table = pd.concat([wcs_before, wcs_after])
    return AlignmentResult(
        directory=workdir,
        aligned_flt_paths=tuple(flts),
        visit_drz_paths=tuple(drzs),
        shift_file=workdir / SHIFT_FILE,
        shift_table=shift_table,
        fit_table=pd.DataFrame(fit_rows, columns=["image", "n_matches", "xrms_pix", "yrms_pix"]),
        wcs_record=wcs_table.reset_index(drop=True),
        orig_wcs_names=orig_wcs_names,
        log_path=log_path,
        headers_before=workdir / HEADERS_BEFORE_DIR,
    )


def verify_alignment(
    aligned_drz_paths: Sequence[Path],
    catalog_path: Path,
    params: TweakRegSpec,
    workdir: Path,
    detector: Detector = WFC3_IR,
) -> pd.DataFrame:
    """TweakReg with ``updatehdr=False`` on copies of the updated DRZs: what is left to fit.

    Parameters
    ----------
    aligned_drz_paths : sequence of Path
        The DRZs `align_visits` updated; copied into ``workdir``, never modified.
    catalog_path : Path
        The reference catalog file `align_visits` wrote (`CATALOG_FILE`).
    params : TweakRegSpec
        The TweakReg parameters of the alignment.
    workdir : Path
        A new directory for this step; keeps `RESIDUAL_SHIFT_FILE`, `LOG_FILE` and
        TweakReg's catalogs and match files (the DRZ copies are deleted at the end).

    Returns
    -------
    pandas.DataFrame
        The residual shift file (`parse_shift_file`): ideally no shift, rotation or scale.

    Raises
    ------
    PipelineStepError
        If TweakReg raises or writes no shift file.
    """
    drzs = copy_inputs(aligned_drz_paths, workdir)
    copy_inputs([catalog_path], workdir)
    log_path = workdir / LOG_FILE
    parameters = {
        **_tweakreg_parameters(params, detector),
        "outshifts": RESIDUAL_SHIFT_FILE,
        "outwcs": "residual_shifts_wcs.fits",
    }
    with working_directory(workdir), console_to(log_path):
        try:
            from drizzlepac import tweakreg

            tweakreg.TweakReg(
                [path.name for path in drzs], updatehdr=False, runfile=LOG_FILE, **parameters
            )
            if not (workdir / RESIDUAL_SHIFT_FILE).is_file():
                raise PipelineStepError(f"TweakReg wrote no shift file {RESIDUAL_SHIFT_FILE}")
        except Exception as error:
            raise PipelineStepError(
                f"The verification fit failed in {workdir}: {error}. Read the log, {log_path}."
            ) from error
    for copy in drzs:  # copies of the alignment's DRZs: not kept twice
        copy.unlink()
    return parse_shift_file(workdir / RESIDUAL_SHIFT_FILE)
