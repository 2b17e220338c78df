"""What differs between the HST detectors skyqa knows: one model per instrument and
detector, which the pipeline, the measurements and the checks ask instead of assuming
WFC3/IR.

Facts with their sources: the chip order and the units as measured with drizzlepac
3.11 on synthetic two-chip exposures (the project's reference notes, "Two-chip
detectors": ``[SCI,1]`` holds chip 2, MDRIZSKY is written in electrons into every SCI
header of a two-chip exposure); array sizes and plate scales from the instrument
handbooks (WFC3 Instrument Handbook, sections 6.2 and 7.2; ACS Instrument Handbook,
section 3.3); the AstroDrizzle parameters of the two-chip fields from the DrizzlePac
notebook "align_mosaics" (WFC3/UVIS, ``final_bits`` "64, 16").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from skyqa.errors import UnknownDetectorError


@dataclass(frozen=True)
class Detector:
    """One HST detector as skyqa needs it.

    ``chips``: the CCDCHIP number held by each SCI extension, in file order (``[SCI,1]``
    first). ``units``: BUNIT of the calibrated exposures. ``cosmic_rays``: whether
    AstroDrizzle must reject cosmic rays (a CCD; WFC3/IR's up-the-ramp fitting removes
    them in calwf3). ``chip_gap_rows``: rows of sky lost between the chips (0 for one
    chip). ``inputs``/``drizzled``: the suffixes of the calibrated files skyqa drizzles
    and of AstroDrizzle's outputs from them.
    """

    name: str
    instrument: str
    detector: str
    chips: tuple[int, ...]
    chip_shape: tuple[int, int]
    plate_scale_arcsec: float
    units: str
    cosmic_rays: bool
    chip_gap_rows: int
    inputs: str
    drizzled: str
    final_bits: str
    tweakreg: Mapping[str, object] = field(default_factory=dict)
    """TweakReg parameters this detector's visit mosaics need beyond the field's."""
    imagefind: Mapping[str, object] = field(default_factory=dict)
    """TweakReg ``imagefindcfg`` settings this detector's visit mosaics need."""

    @property
    def n_chips(self) -> int:
        return len(self.chips)

    @property
    def in_electrons(self) -> bool:
        """Whether the exposures' pixels (and so MDRIZSKY) are electrons, not e-/s."""
        return self.units.upper() == "ELECTRONS"

    def rate(self, value: float, exptime: float) -> float:
        """A sky value of this detector's exposures in e-/s (MDRIZSKY is in the
        exposures' own units: electrons on the CCDs, e-/s on WFC3/IR)."""
        if not self.in_electrons:
            return float(value)
        if not exptime > 0:
            raise ValueError(
                f"{self.name}: a sky of {value} electrons needs a positive EXPTIME to be a "
                f"rate, got {exptime}"
            )
        return float(value) / float(exptime)

    def sci_extensions(self) -> list[tuple[str, int]]:
        """The SCI extensions of an exposure, in file order, as ``("SCI", n)``."""
        return [("SCI", number) for number in range(1, self.n_chips + 1)]


WFC3_IR = Detector(
    name="WFC3/IR",
    instrument="WFC3",
    detector="IR",
    chips=(1,),
    chip_shape=(1014, 1014),
    plate_scale_arcsec=0.1283,
    units="ELECTRONS/S",
    cosmic_rays=False,
    chip_gap_rows=0,
    inputs="flt",
    drizzled="drz",
    final_bits="16",
)
WFC3_UVIS = Detector(
    name="WFC3/UVIS",
    instrument="WFC3",
    detector="UVIS",
    chips=(2, 1),
    chip_shape=(2051, 4096),
    plate_scale_arcsec=0.0396,
    units="ELECTRONS",
    cosmic_rays=True,
    chip_gap_rows=31,
    inputs="flc",
    drizzled="drc",
    final_bits="64, 16",
    # On two-chip visit mosaics: the first histogram shift was a pixel off at the default
    # tolerance, and leftover cosmic rays made hundreds of false sources without the
    # sharpness/roundness cuts (measured; the project's reference notes).
    tweakreg={"tolerance": 3.0},
    imagefind={"use_sharp_round": True},
)
ACS_WFC = Detector(
    name="ACS/WFC",
    instrument="ACS",
    detector="WFC",
    chips=(2, 1),
    chip_shape=(2048, 4096),
    plate_scale_arcsec=0.05,
    units="ELECTRONS",
    cosmic_rays=True,
    chip_gap_rows=50,
    inputs="flc",
    drizzled="drc",
    final_bits="64, 16",
    tweakreg={"tolerance": 3.0},
    imagefind={"use_sharp_round": True},
)

DETECTORS: dict[tuple[str, str], Detector] = {
    (model.instrument, model.detector): model for model in (WFC3_IR, WFC3_UVIS, ACS_WFC)
}
"""Every detector skyqa models, by (INSTRUME, DETECTOR)."""


def detector_named(name: str) -> Detector:
    """The model called ``name`` (as a field spec's ``detector`` key gives it, e.g.
    "WFC3/UVIS"); upper or lower case.

    Raises
    ------
    UnknownDetectorError
        If skyqa models no detector of that name.
    """
    for model in DETECTORS.values():
        if model.name.upper() == name.strip().upper():
            return model
    known = ", ".join(model.name for model in DETECTORS.values())
    raise UnknownDetectorError(f"detector {name!r} is not one skyqa models; it models {known}.")


def detector_of(primary: Mapping[str, object], source: str = "the exposure") -> Detector:
    """The model of an exposure's detector, from its primary header's INSTRUME and
    DETECTOR.

    Raises
    ------
    UnknownDetectorError
        If the pair is not one of `DETECTORS` (or a keyword is missing).
    """
    instrument = str(primary.get("INSTRUME", "")).strip().upper()
    detector = str(primary.get("DETECTOR", "")).strip().upper()
    model = DETECTORS.get((instrument, detector))
    if model is None:
        known = ", ".join(model.name for model in DETECTORS.values())
        raise UnknownDetectorError(
            f"{source} is INSTRUME={instrument or '(missing)'} "
            f"DETECTOR={detector or '(missing)'}: skyqa models {known}; check the primary "
            "header, or that the file is a calibrated HST exposure."
        )
    return model
