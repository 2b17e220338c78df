"""AstroDrizzle runs, each isolated in its own working directory on copies of its inputs.

AstroDrizzle edits the FITS headers of its inputs in place (MDRIZSKY, and with
``build=True`` nothing is undone afterwards), so every run here copies its inputs into
its own directory first. Each final mosaic is made from its own pristine copy of the
aligned FLTs: `match` leaves exposures that overlap nothing with whatever MDRIZSKY they
already carry, so a copy shared between methods would leak one method into another.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from skyqa.detectors import WFC3_IR, Detector
from skyqa.errors import PipelineStepError
from skyqa.field import AstroDrizzleSpec
from skyqa.footprints import true_footprints
from skyqa.headers import chip_of, rootname_of, science_extvers
from skyqa.sandbox import console_to, copy_inputs, working_directory

VISIT_DRIZZLE_PARAMETERS = {
    "build": True,
    "preserve": False,
    "context": False,
    "driz_separate": False,
    "median": False,
    "blot": False,
    "driz_cr": False,
    "skysub": True,
    "skymethod": "localmin",
    "final_bits": "16",
    "final_wcs": True,
    "final_rot": 0.0,
    "final_scale": 0.1283,
    "clean": True,
}
"""How a synthetic field's visit DRZs are made: like the archive's, North up at the IR
plate scale, one ``_drz.fits`` with ``build=True`` whose D00nDATA keywords name the FLTs
(tweakback finds them that way). No cosmic-ray steps, as for WFC3/IR in the archive: the
ramp fit rejected the hits, and what it left (simulated too) stays in the DRZ."""

MOSAIC_LOG = "astrodrizzle.log"

COSMIC_RAY_STEPS = {
    "driz_separate": True,
    "median": True,
    "blot": True,
    "driz_cr": True,
    "combine_type": "minmed",
}
"""AstroDrizzle's cosmic-ray rejection in the final mosaics of the CCDs, as the
align_mosaics notebook runs it: each exposure drizzled alone, their ``minmed``
combination, blotted back, and the pixels that differ flagged 4096 in the inputs' DQ."""

VISIT_COSMIC_RAY_STEPS = {**COSMIC_RAY_STEPS, "combine_nhigh": 1, "driz_cr_scale": "1.5 1.2"}
"""The same in a CCD visit mosaic, with drizzlepac's own values for two to five exposures
(its HAP single-visit parameters, ``pars/hap_pars/svm_parameters/*/*_astrodrizzle_any_n2.json``).
Not in the final mosaics: rejecting the highest of one exposure leaves no pixel where only
one covers the sky."""

VISIT_SKY_METHOD_CCD = "match"
"""The sky of a CCD visit mosaic, as drizzlepac's single-visit parameters have it: with
``localmin`` each exposure subtracts the minimum of its own footprint, so on a nebula
the dithered exposures of one visit subtract different skies, and the cosmic-ray step
takes the difference for cosmic rays (measured on m16-uvis-sim: a third of the pixels
flagged 4096 with ``localmin``)."""


def sky_footprints(detector: Detector, skymethod: str) -> contextlib.AbstractContextManager:
    """Where skymatch intersects footprints (``match``, ``globalmin+match``) of non-square
    chips, draw them right (`skyqa.footprints.true_footprints`); anything else as it is
    (WFC3/IR's square arrays are never touched)."""
    rows, columns = detector.chip_shape
    if "match" not in skymethod or rows == columns:
        return contextlib.nullcontext()

    return true_footprints()


def visit_drizzle_parameters(detector: Detector) -> dict[str, object]:
    """How a synthetic field's visit mosaics are made for ``detector``: WFC3/IR as
    `VISIT_DRIZZLE_PARAMETERS`; the CCDs with cosmic-ray rejection, their ``final_bits``
    and their own pixel scale (AstroDrizzle's default: the inputs')."""
    if not detector.cosmic_rays:
        return dict(VISIT_DRIZZLE_PARAMETERS)
    return {
        **VISIT_DRIZZLE_PARAMETERS,
        **VISIT_COSMIC_RAY_STEPS,
        "skymethod": VISIT_SKY_METHOD_CCD,
        "final_bits": detector.final_bits,
        "final_scale": None,
    }


def run_astrodrizzle(
    input_names: Sequence[str], output: str, workdir: Path, **parameters: object
) -> Path:
    """Run AstroDrizzle in ``workdir`` on files already there; return the log's path.

    Raises
    ------
    PipelineStepError
        If AstroDrizzle raises; the message names the log to read.
    """
    log_path = workdir / f"{output}_{MOSAIC_LOG}"
    with working_directory(workdir), console_to(log_path):
        try:
            from drizzlepac import astrodrizzle

            astrodrizzle.AstroDrizzle(
                list(input_names), output=output, runfile=log_path.name, **parameters
            )
        except Exception as error:
            raise PipelineStepError(
                f"AstroDrizzle failed making {output} in {workdir}: {error}. "
                f"Read its log, {log_path}."
            ) from error
    return log_path


def drizzle_visit(
    flt_paths: Sequence[Path], output: str, workdir: Path, detector: Detector = WFC3_IR
) -> Path:
    """Make a visit mosaic ``<output>_drz.fits`` (``_drc`` from FLCs) from the exposures
    in ``workdir``, as the archive does (`visit_drizzle_parameters`).

    The exposures are drizzled in place (this is how an archive FLT comes to carry the
    visit's MDRIZSKY, and an FLC its cosmic-ray flags); call it only on files the caller
    owns.
    """
    names = [path.name for path in flt_paths]
    parameters = visit_drizzle_parameters(detector)
    with sky_footprints(detector, str(parameters["skymethod"])):
        log_path = run_astrodrizzle(names, output, workdir, **parameters)
    drz_path = workdir / f"{output}_{detector.drizzled}.fits"
    if not drz_path.is_file():
        raise PipelineStepError(
            f"AstroDrizzle wrote no {drz_path.name} for visit {output}; read {log_path}."
        )
    return drz_path


MDRIZSKY_TABLE = "mdrizsky.csv"
COSMIC_RAY_TABLE = "cosmic_rays.csv"
DQ_COSMIC_RAY = 4096
"""The DQ bit AstroDrizzle's driz_cr sets on the pixels it rejects."""


def read_cosmic_ray_flags(flt_paths: Sequence[Path]) -> pd.DataFrame:
    """Per chip of every exposure (``rootname``, ``chip``: CCDCHIP), the fraction of its
    pixels flagged `DQ_COSMIC_RAY` (``flagged_fraction``)."""
    rows = []
    for path in flt_paths:
        with fits.open(path) as hdul:
            rootname = rootname_of(hdul[0].header, path)
            extvers = science_extvers(hdul)
            for extver in extvers:
                chip = chip_of(hdul["SCI", extver].header, extver, len(extvers))
                flagged = float(np.mean((hdul["DQ", extver].data & DQ_COSMIC_RAY) != 0))
                rows.append({"rootname": rootname, "chip": chip, "flagged_fraction": flagged})
    return pd.DataFrame(rows, columns=["rootname", "chip", "flagged_fraction"])


def image_coverage(sci_path: Path, wht_path: Path) -> dict[str, dict]:
    """How much of a mosaic holds data: for each of its images that exists ("science",
    "weight"), its number of pixels and the fraction of them that are finite (science)
    or finite and positive (weight)."""
    coverage = {}
    for kind, path in (("science", sci_path), ("weight", wht_path)):
        if not path.is_file():
            continue
        data = fits.getdata(path)
        useful = np.isfinite(data) & (data > 0) if kind == "weight" else np.isfinite(data)
        coverage[kind] = {
            "pixels": int(data.size),
            "fraction": float(useful.mean()) if data.size else 0.0,
        }
    return coverage


def describe_mosaic(workdir: Path, record: dict) -> dict:
    """What a mosaic's cache record adds once it is built (and any injected fault has
    damaged it): the `image_coverage` of its images, in ``coverage``. Here, beside the
    measurement, so that the mosaic's cache key (this module's source) covers both."""
    sci_path, wht_path = workdir / record["sci_path"], workdir / record["wht_path"]
    return {"coverage": image_coverage(sci_path, wht_path)}


@dataclass(frozen=True)
class Mosaic:
    """One final mosaic and what skyqa reads from it.

    ``mdrizsky`` has one row per input exposure: rootname and ``mdrizsky_e_s``, the
    MDRIZSKY header value AstroDrizzle left in that exposure's SCI header (NaN if absent).
    The FLT copies the mosaic was made from are deleted once that table is read: their
    pixels are the aligned FLTs', and their headers differ only by MDRIZSKY.
    ``recorded_coverage`` is `image_coverage` as measured when the mosaic's cache entry
    was made (None: measured from the images when asked for).
    """

    skymethod: str
    directory: Path
    sci_path: Path
    wht_path: Path
    log_path: Path
    mdrizsky: pd.DataFrame
    recorded_coverage: dict[str, dict] | None = None
    cosmic_rays: pd.DataFrame | None = None
    """The CCDs: per chip of every exposure, the fraction of its pixels AstroDrizzle
    flagged as cosmic rays (DQ 4096) making this mosaic (`read_cosmic_ray_flags`)."""

    @property
    def coverage(self) -> dict[str, dict]:
        """`image_coverage` of the mosaic: as recorded with its cache entry (whose files
        the cache found unchanged), else read from its images now."""
        if self.recorded_coverage is not None:
            return self.recorded_coverage
        return image_coverage(self.sci_path, self.wht_path)

    @property
    def log_text(self) -> str:
        """The AstroDrizzle log of this run."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def to_record(self) -> dict:
        """JSON-able description, paths relative to ``directory``; writes the sky table."""
        self.mdrizsky.to_csv(self.directory / MDRIZSKY_TABLE, index=False)
        record = {
            "skymethod": self.skymethod,
            "sci_path": self.sci_path.name,
            "wht_path": self.wht_path.name,
            "log_path": self.log_path.name,
        }
        if self.cosmic_rays is not None:
            self.cosmic_rays.to_csv(self.directory / COSMIC_RAY_TABLE, index=False)
            record["cosmic_rays"] = COSMIC_RAY_TABLE
        return record

    @classmethod
    def from_record(cls, directory: Path, record: dict) -> Mosaic:
        """Rebuild from `to_record` output found in ``directory``."""
        return cls(
            skymethod=record["skymethod"],
            directory=directory,
            sci_path=directory / record["sci_path"],
            wht_path=directory / record["wht_path"],
            log_path=directory / record["log_path"],
            mdrizsky=pd.read_csv(directory / MDRIZSKY_TABLE, dtype={"rootname": str}),
            recorded_coverage=record.get("coverage"),
            cosmic_rays=(
                pd.read_csv(directory / record["cosmic_rays"], dtype={"rootname": str})
                if "cosmic_rays" in record
                else None
            ),
        )


TWO_CHIP_SKY_COLUMNS = ["chip_spread_e_s", "exptime_s"]
"""What a two-chip detector's MDRIZSKY table adds: the chips' spread, and the EXPTIME that
turns the exposure's electrons (and its log's) into e-/s."""


def read_mdrizsky(flt_paths: Sequence[Path], detector: Detector = WFC3_IR) -> pd.DataFrame:
    """MDRIZSKY of each exposure in e-/s; NaN where the keyword is absent.

    ``mdrizsky_e_s`` is the value of the first SCI extension. AstroDrizzle writes MDRIZSKY
    in the exposure's own units, electrons on the CCDs, so it is divided by EXPTIME there
    (`Detector.rate`). A two-chip detector's table adds `TWO_CHIP_SKY_COLUMNS`:
    ``chip_spread_e_s``, the largest difference between its chips' values (AstroDrizzle
    applies one sky to all chips of an exposure; NaN if a chip lacks the keyword), and
    ``exptime_s``.
    """
    rows = []
    for path in flt_paths:
        with fits.open(path) as hdul:
            primary = hdul[0].header
            rootname = rootname_of(primary, path)
            exptime = float(primary.get("EXPTIME", np.nan))
            values = [
                _rate(detector, hdul[extension].header.get("MDRIZSKY", np.nan), exptime)
                for extension in detector.sci_extensions()
            ]
        row = {"rootname": rootname, "mdrizsky_e_s": values[0]}
        if detector.n_chips > 1:
            row["chip_spread_e_s"] = float(np.max(values) - np.min(values))
            row["exptime_s"] = exptime
        rows.append(row)
    columns = ["rootname", "mdrizsky_e_s"] + (TWO_CHIP_SKY_COLUMNS if detector.n_chips > 1 else [])
    return pd.DataFrame(rows, columns=columns)


def _rate(detector: Detector, value: float, exptime: float) -> float:
    """A header's sky as e-/s; NaN stays NaN (a missing keyword, or no usable EXPTIME)."""
    if not np.isfinite(value) or (detector.in_electrons and not exptime > 0):
        return float("nan")
    return detector.rate(value, exptime)


def drizzle_mosaic(
    aligned_flt_paths: Sequence[Path],
    skymethod: str,
    spec: AstroDrizzleSpec,
    workdir: Path,
    detector: Detector = WFC3_IR,
) -> Mosaic:
    """Drizzle the aligned FLTs into one mosaic with one sky method, on fresh copies.

    Parameters
    ----------
    aligned_flt_paths : sequence of Path
        The aligned FLTs; they are copied, never modified.
    skymethod : str
        One of `skyqa.field.SKY_METHODS`.
    spec : AstroDrizzleSpec
        The field's AstroDrizzle parameters.
    workdir : Path
        A new directory for this run.
    detector : Detector
        The exposures' detector: on the CCDs cosmic rays are rejected
        (`COSMIC_RAY_STEPS`, every sky method finding its own) and the outputs are
        ``_drc``.

    Returns
    -------
    Mosaic

    Raises
    ------
    PipelineStepError
        If AstroDrizzle fails or writes no science or weight image.
    """
    copies = copy_inputs(aligned_flt_paths, workdir)
    parameters = {
        "preserve": spec.preserve,
        "context": spec.context,
        "build": False,
        "driz_separate": False,
        "median": False,
        "blot": False,
        "driz_cr": False,
        "skysub": True,
        "skymethod": skymethod,
        "final_bits": spec.final_bits,
        "final_wcs": spec.final_wcs,
        "final_rot": spec.final_rot,
        "final_scale": spec.final_scale,
        "clean": True,
        **(COSMIC_RAY_STEPS if detector.cosmic_rays else {}),
    }
    with sky_footprints(detector, skymethod):
        log_path = run_astrodrizzle(
            [path.name for path in copies], spec.output_prefix, workdir, **parameters
        )
    sci_path = workdir / f"{spec.output_prefix}_{detector.drizzled}_sci.fits"
    wht_path = workdir / f"{spec.output_prefix}_{detector.drizzled}_wht.fits"
    missing = [path.name for path in (sci_path, wht_path) if not path.is_file()]
    if missing:
        raise PipelineStepError(
            f"AstroDrizzle ({skymethod}) wrote no {', '.join(missing)} in {workdir}; "
            f"read {log_path}."
        )
    mdrizsky = read_mdrizsky(copies, detector)
    cosmic_rays = read_cosmic_ray_flags(copies) if detector.cosmic_rays else None
    for copy in copies:
        copy.unlink()
    return Mosaic(
        skymethod=skymethod,
        directory=workdir,
        sci_path=sci_path,
        wht_path=wht_path,
        log_path=log_path,
        mdrizsky=mdrizsky,
        cosmic_rays=cosmic_rays,
    )


def mdrizsky_by_method(mosaics: Mapping[str, Mosaic]) -> pd.DataFrame:
    """MDRIZSKY (e-/s), one row per exposure and one column per sky method."""
    columns = {
        method: mosaic.mdrizsky.set_index("rootname")["mdrizsky_e_s"]
        for method, mosaic in mosaics.items()
    }
    table = pd.DataFrame(columns)
    table.index.name = "rootname"
    return table.reset_index()


FALLBACK_MARKER = "Reverting sky computation"
_APPLIED_SKY = re.compile(
    r"Applying sky value of\s+(\S+)\s+to\s+(\S+?)_fl[tc]\.fits\[sci,\d+\]", re.I
)


def fallback_lines(log_text: str) -> list[str]:
    """Lines in which AstroDrizzle says it gave up sky matching for a simpler method."""
    return [line.strip() for line in log_text.splitlines() if FALLBACK_MARKER in line]


def applied_sky_values(log_text: str) -> dict[str, float]:
    """Sky (data units) AstroDrizzle logged as subtracted while drizzling, per rootname.

    Read from its ``Applying sky value of X to <rootname>_flt.fits[sci,1]`` lines (``_flc``
    for the CCDs, one line per chip); the last value logged for an exposure wins.
    """
    values = {}
    for match in _APPLIED_SKY.finditer(log_text):
        values[match.group(2).lower()] = float(match.group(1))
    return values
