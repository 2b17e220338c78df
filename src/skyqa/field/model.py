"""What a field spec holds: one frozen dataclass per section (`FieldSpec` and its parts).

A field is one declarative TOML file. The package ships its registered fields in
``skyqa/fields/``; a user may pass the path of a spec of their own to ``--field``.
Every key is checked: an unknown key, a missing required key or a value of the wrong type
is a `~skyqa.errors.FieldSpecError` that names the file, the key and what is allowed,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from skyqa import results
from skyqa.detectors import Detector, detector_named
from skyqa.names import visit_of  # as the checks name a visit

SKY_METHODS: tuple[str, ...] = tuple(results.SKY_METHODS)
"""AstroDrizzle ``skymethod`` values skyqa knows how to check, in report order."""


@dataclass(frozen=True)
class Range:
    """The values a number of a field spec may take, read by the loader
    (`skyqa.field.load`): above ``gt`` or from ``ge``, up to ``le``. An upper bound keeps a
    limit from turning its check into one that passes everything; ``why`` says so in the
    error sentence."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    why: str = ""

    def admits(self, value: float) -> bool:
        """Whether ``value`` is in the range (NaN, which TOML can write, never is)."""
        if value != value:
            return False
        below = (self.gt is not None and value <= self.gt) or (
            self.ge is not None and value < self.ge
        )
        return not below and not (self.le is not None and value > self.le)

    def text(self) -> str:
        """The range as the error sentence says it: ``> 0 and <= 1 (why)``."""
        parts = [
            f"{sign} {bound:g}"
            for sign, bound in ((">", self.gt), (">=", self.ge), ("<=", self.le))
            if bound is not None
        ]
        return " and ".join(parts) + (f" ({self.why})" if self.why else "")


POSITIVE = Range(gt=0)
NOT_NEGATIVE = Range(ge=0)
FRACTION = Range(ge=0, le=1)
AT_LEAST_ONE = Range(ge=1)

# The upper bounds of the limits, each with its reason (docs/field-spec.md, "Ranges").
_HAP = (
    "drizzlepac's HAP rejects a fit past 150 mas (MAX_FIT_LIMIT, its align.py): a larger "
    "limit passes alignments HAP refuses"
)
_BUDGET = (
    "an error budget's term past HAP's 150 mas rejection limit (MAX_FIT_LIMIT) would excuse any WCS"
)
_PIX = (
    "HAP's 150 mas rejection limit (MAX_FIT_LIMIT) in WFC3/IR's 0.128 arcsec pixels, the "
    "largest skyqa knows"
)
_TURN = (
    "a turn or scale that moves WFC3/IR's edge (65 arcsec from its centre) past HAP's "
    "150 mas rejection limit (MAX_FIT_LIMIT): a larger limit passes fits HAP refuses"
)
_SKY = (
    "past any HST sky in e-/s (WFC3/IR's brightest F160W backgrounds are a few e-/s): a "
    "larger limit passes every matched sky"
)
_SAME = (
    "it compares one sky written twice, which agree to the log's rounding (1e-6 e-/s); past "
    "0.001 e-/s it would pass skies that differ"
)
_SEAM = "a seam of one pixel noise stands out in the mosaic: a larger limit passes seams one sees"
_COLUMN = "a column 100 robust sigma off its neighbours streaks the mosaic at any stretch"
_HITS = (
    "a chip with half its pixels flagged as cosmic rays has lost its data: a larger limit "
    "passes any rejection"
)
HAP_MAS = Range(gt=0, le=150, why=_HAP)
BUDGET_MAS = Range(ge=0, le=150, why=_BUDGET)
PIXELS = Range(gt=0, le=1.2, why=_PIX)
BUDGET_PIXELS = Range(ge=0, le=1.2, why=_PIX)
SAME_SKY = Range(gt=0, le=1e-3, why=_SAME)

FIELD_KINDS: tuple[str, ...] = ("synthetic", "mast", "local")


@dataclass(frozen=True)
class Target:
    """The pointing target: name and ICRS position of RA_TARG/DEC_TARG."""

    name: str
    ra_deg: Annotated[float, Range(ge=0, le=360)]
    dec_deg: Annotated[float, Range(ge=-90, le=90)]


@dataclass(frozen=True)
class PlannedExposure:
    """One exposure of a synthetic program, with the geometry of the real one."""

    rootname: str
    asn_id: str
    exptime: float
    postarg1: float
    postarg2: float
    date_obs: str
    orientat: float


@dataclass(frozen=True)
class SyntheticSpec:
    """Parameters of the synthetic field generator (`skyqa.simulate`).

    Fluxes and levels are in e-/s, angles in degrees unless the name says arcsec.
    """

    seed: int
    exposures: tuple[PlannedExposure, ...]
    proposal_id: int = 12812
    detector_size: int = 1014
    n_stars: Annotated[int, AT_LEAST_ONE] = 900
    star_mag_bright: float = 17.0
    star_mag_faint: float = 24.0
    psf_model: Literal["library", "moffat"] = "library"
    psf_fwhm_pix: Annotated[float, POSITIVE] = 1.2
    psf_moffat_beta: float = 2.5
    sky_base_e_s: Annotated[float, NOT_NEGATIVE] = 0.77
    visit_pedestal_range_e_s: Annotated[float, NOT_NEGATIVE] = 0.05
    exposure_pedestal_jitter_e_s: Annotated[float, NOT_NEGATIVE] = 0.003
    nebula_blobs: Annotated[int, NOT_NEGATIVE] = 40
    nebula_peak_e_s: Annotated[float, NOT_NEGATIVE] = 0.6
    read_noise_e: Annotated[float, NOT_NEGATIVE] = 15.0
    dark_e_s: Annotated[float, NOT_NEGATIVE] = 0.02
    hot_pixel_fraction: Annotated[float, FRACTION] = 0.004
    dead_pixel_fraction: Annotated[float, FRACTION] = 0.001
    pointing_shift_max_arcsec: Annotated[float, NOT_NEGATIVE] = 0.7
    pointing_rotation_max_deg: Annotated[float, NOT_NEGATIVE] = 0.02
    pointing_scale_max: Annotated[float, NOT_NEGATIVE] = 2.0e-4
    catalog_mag_limit: float = 21.5
    catalog_radius_arcmin: Annotated[float, Range(gt=0, le=60)] = 5.0
    # Real-world imperfections (`skyqa.simulate`), each 0 for a perfect replica:
    catalog_epoch: float = 2016.0
    """Epoch (decimal year) of the Gaia-like catalog's positions; they are carried to
    the exposures' epoch with their measured proper motions, as drizzlepac's
    astrometric catalog is."""
    proper_motion_dispersion_mas_yr: Annotated[float, NOT_NEGATIVE] = 4.0
    """Per-axis dispersion of the stars' true proper motions."""
    catalog_error_scale: Annotated[float, NOT_NEGATIVE] = 1.0
    """Gaia DR3-like position and proper-motion errors (growing with G), times this."""
    two_parameter_mag_limit: float = 20.7
    """Stars fainter (G) than this have no proper motion in the catalog half the time
    (Gaia's 2-parameter solutions): their catalog position stays at the catalog epoch."""
    distortion_residual_pix: Annotated[float, NOT_NEGATIVE] = 0.02
    """RMS over the detector of the true distortion's difference from the header SIP:
    a smooth field of the size the WFC3/IR solution's residuals have."""
    exposure_jitter_mas: Annotated[float, NOT_NEGATIVE] = 3.0
    """Per-axis RMS of each exposure's own pointing error on top of its visit's: a
    part the visit's rscale fit cannot model (the small-angle maneuver's accuracy)."""
    unflagged_cosmic_rays: Annotated[int, NOT_NEGATIVE] = 20
    """Residual cosmic-ray hits per exposure left by the ramp fit, not flagged in DQ."""
    unflagged_snowballs: Annotated[int, NOT_NEGATIVE] = 1
    """IR snowballs per exposure, not flagged in DQ."""
    zeropoint_ab: float = 25.946
    """AB magnitude of a star giving 1 e-/s (default: WFC3/IR F160W's, the instrument
    handbook's); the stars' magnitudes are in this system."""
    # Two-chip CCD replicas (the spec's detector WFC3/UVIS or ACS/WFC):
    chip_shape: tuple[int, int] = (0, 0)
    """(rows, columns) of each chip; (0, 0): the detector's full chip."""
    pixel_scale_arcsec: float = 0.0
    """The replica's pixel scale; 0: the detector's. A coarser scale keeps the real
    footprints (and so the real overlaps) with fewer pixels."""
    cosmic_ray_fraction_per_ks: float = 0.0
    """Fraction of a CCD chip's pixels hit by cosmic rays per 1000 s of exposure, left
    unflagged for AstroDrizzle to find (a few percent on ACS/WFC and WFC3/UVIS)."""


@dataclass(frozen=True)
class MastSpec:
    """The MAST query that finds a real field's data (`astroquery.mast.Observations`)."""

    obs_id: str
    proposal_id: str
    filters: tuple[str, ...]
    products: tuple[str, ...] = ("FLT", "DRZ")
    project: str = "CALWF3"
    expected_rootnames: tuple[str, ...] = ()
    """The FLTs the query must find (ROOTNAMEs); checked after every fetch. () : any."""
    expected_associations: tuple[str, ...] = ()
    """The visit DRZs the query must find (association ids); () : any."""


@dataclass(frozen=True)
class LocalSpec:
    """Data a user already has: a folder of FLT and visit DRZ files, read and never written.

    Paths are relative to the spec file's folder unless absolute. ``catalog`` is the
    reference catalog file, with columns ra, dec (deg) and optionally mag, in any format
    astropy reads (ECSV, CSV, whitespace-separated with a header line): required with
    ``[catalog] source = "file"``, not allowed otherwise (the Gaia and astrometric
    catalogs need no file).
    """

    directory: str
    catalog: str | None = None


@dataclass(frozen=True)
class CatalogSpec:
    """Which reference catalog TweakReg aligns to.

    ``source`` is ``synthetic`` (the simulator's truth catalog), ``gaia`` (a Gaia DR3
    cone search of ``radius_arcmin`` around the target), ``astrometric`` (drizzlepac's
    proper-motion catalog built from the exposure footprints) or ``file`` (the ``catalog``
    file of a ``local`` field). Stars closer than ``min_separation_arcsec`` to another
    catalog star are dropped (0: keep all): WFC3/IR does not resolve such a pair, and
    TweakReg matches both stars to one blended source.
    """

    source: Literal["synthetic", "gaia", "astrometric", "file"]
    radius_arcmin: Annotated[float, Range(gt=0, le=60)] = 5.0
    min_separation_arcsec: Annotated[float, NOT_NEGATIVE] = 0.0


@dataclass(frozen=True)
class TweakRegSpec:
    """TweakReg parameters; the defaults are the Horsehead tutorial's."""

    threshold: Annotated[float, POSITIVE] = 4.0
    conv_width: Annotated[float, POSITIVE] = 4.5
    minobj: Annotated[int, AT_LEAST_ONE] = 3
    searchrad: Annotated[float, POSITIVE] = 1.0
    ylimit: Annotated[float, POSITIVE] = 0.4
    nclip: Annotated[int, NOT_NEGATIVE] = 1
    fitgeometry: Literal["shift", "rscale", "general"] = "rscale"


@dataclass(frozen=True)
class AstroDrizzleSpec:
    """AstroDrizzle parameters of the final mosaics; the defaults are the tutorial's."""

    skymethods: tuple[str, ...] = SKY_METHODS
    final_bits: str = "16"
    final_wcs: bool = True
    final_rot: Annotated[float, Range(ge=-360, le=360)] = 257.0
    final_scale: Annotated[float, POSITIVE] | None = None
    preserve: bool = False
    context: bool = False
    output_prefix: str = "f160w"


@dataclass(frozen=True)
class Thresholds:
    """QA thresholds of a field. Units are in the names; see docs/field-spec.md for each."""

    fit_rms_max_pix: Annotated[float, PIXELS] = 0.2
    min_matches: Annotated[int, AT_LEAST_ONE] = 4
    residual_shift_max_pix: Annotated[float, PIXELS] = 0.1
    residual_rotation_max_deg: Annotated[float, Range(gt=0, le=0.13, why=_TURN)] = 0.005
    residual_scale_max: Annotated[float, Range(gt=0, le=2.3e-3, why=_TURN)] = 2.0e-4
    tweakback_agreement_max_mas: Annotated[float, HAP_MAS] = 5.0
    astrometry_good_mas: Annotated[float, HAP_MAS] = 10.0
    """HAP's good alignment: below it a fit is category 1 (``determine_fit_quality`` in
    drizzlepac/align.py, its docstring's 10 mas). Up to it an astrometric verdict passes."""
    astrometry_accepted_mas: Annotated[float, HAP_MAS] = 20.0
    """HAP's accepted alignment (``MAX_FIT_RMS`` = 20 mas in drizzlepac's
    pars/hap_pars/svm_parameters/wfc3/ir/wfc3_ir_alignment_all.json). Between the good and
    the accepted limit a verdict is a warning naming the category; beyond it, a failure."""
    exposure_pointing_mas: Annotated[float, BUDGET_MAS] = 5.0
    """An exposure's pointing relative to its visit (2-D RMS), which one fit per visit
    cannot follow: the DrizzlePac Handbook (Appendix B.3) measures dither offsets within an
    orbit to agree with the commanded ones within 2-5 mas RMS; the upper end."""
    distortion_residual_pix: Annotated[float, BUDGET_PIXELS] = 0.02
    """The distortion solution's residual, in the exposure's own pixels (2-D RMS): 0.02
    pix, the size of the WFC3/IR solution's residuals (docs/replica.md)."""
    catalog_epoch_error_mas: Annotated[float, BUDGET_MAS] = 2.0
    """The reference catalog's error in carrying positions to the exposures' epoch, counted
    whole (not averaged over the stars): Gaia DR3's proper-motion error of a G = 20 star,
    0.5 mas/yr, over the 4 years between its epoch 2016.0 and 2012."""
    match_max_e_s: Annotated[float, Range(gt=0, le=100, why=_SKY)] = 0.1
    sky_relation_tolerance_e_s: Annotated[float, SAME_SKY] = 1.0e-5
    logged_sky_tolerance_e_s: Annotated[float, SAME_SKY] = 1.0e-6
    seam_max_noise_fraction: Annotated[float, Range(gt=0, le=1, why=_SEAM)] = 0.1
    min_overlap_pixels: Annotated[int, AT_LEAST_ONE] = 500
    unflagged_column_max_sigma: Annotated[float, Range(gt=0, le=100, why=_COLUMN)] = 10.0
    cosmic_ray_fraction_min: Annotated[float, FRACTION] = 0.0005
    cosmic_ray_fraction_max: Annotated[float, Range(gt=0, le=0.5, why=_HITS)] = 0.05
    """The CCDs: the fraction of a chip's pixels AstroDrizzle flags 4096 in a mosaic lies in
    [min, max] (none: rejection did not run; many: a wrong sky or a misalignment made the
    exposures disagree)."""
    delivered_wcs_policy: Literal["warn", "fail", "unaligned"] = "warn"
    """``warn``: the archive's own alignment is reported as a warning; ``fail``: as a
    failure; ``unaligned``: the spec declares its visit products deliberately unaligned
    (the synthetic fields), so the check does not apply and says so."""


@dataclass(frozen=True)
class ReleaseSpec:
    """Which of the field's mosaics are released products.

    Each sky method's mosaic is a product. ``methods`` names those to be released (None,
    the default: every method in ``[astrodrizzle].skymethods``). A product that is not
    released is still built and checked; its failures are findings, reported under "not
    released", and do not fail the field.
    """

    methods: tuple[str, ...] | None = None


@dataclass(frozen=True)
class BaselineSpec:
    """Absolute tolerances of the baseline comparison, per table and column.

    Columns not named use ``default_atol``; integer and text columns compare exactly.
    """

    default_atol: Annotated[float, NOT_NEGATIVE] = 1.0e-6
    alignment: dict[str, Annotated[float, NOT_NEGATIVE]] = field(default_factory=dict)
    mdrizsky: dict[str, Annotated[float, NOT_NEGATIVE]] = field(default_factory=dict)
    seams: dict[str, Annotated[float, NOT_NEGATIVE]] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSpec:
    """A validated field spec. ``source_path`` is the TOML file it was read from."""

    name: str
    description: str
    kind: Literal["synthetic", "mast", "local"]
    target: Target
    catalog: CatalogSpec
    tweakreg: TweakRegSpec
    astrodrizzle: AstroDrizzleSpec
    thresholds: Thresholds
    baseline: BaselineSpec = field(default_factory=BaselineSpec)
    release: ReleaseSpec = field(default_factory=ReleaseSpec)
    synthetic: SyntheticSpec | None = None
    mast: MastSpec | None = None
    local: LocalSpec | None = None
    source_path: Path | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    detector: str = "WFC3/IR"
    """The instrument/detector of the field's exposures, as `skyqa.detectors` names it
    ("WFC3/IR", "WFC3/UVIS", "ACS/WFC"); its model gives the file suffixes, units and
    defaults the field's checks use."""

    @property
    def released_methods(self) -> tuple[str, ...]:
        """The sky methods whose mosaics are released products (`ReleaseSpec`)."""
        methods = self.release.methods
        return self.astrodrizzle.skymethods if methods is None else methods

    @property
    def detector_model(self) -> Detector:
        """The `~skyqa.detectors.Detector` of the field's exposures."""
        return detector_named(self.detector)

    def local_path(self, value: str) -> Path:
        """A path of the [local] section, resolved against the spec file's folder."""
        path = Path(value).expanduser()
        if path.is_absolute() or self.source_path is None:
            return path
        return self.source_path.parent / path

    def visit_ids(self) -> tuple[str, ...]:
        """Visit ids (lower-case ASN_ID), sorted, known before the pipeline runs: from the
        synthetic plan, the declared associations of a MAST field, or the visit mosaics
        (``_drz``; ``_drc`` on the CCDs) in a local field's folder; () if unknown."""
        if self.synthetic is not None:
            return tuple(sorted({e.asn_id.lower() for e in self.synthetic.exposures}))
        if self.mast is not None:
            return tuple(sorted(name.lower() for name in self.mast.expected_associations))
        if self.local is not None:
            folder = self.local_path(self.local.directory)

            pattern = f"*_{self.detector_model.drizzled}.fits"
            return tuple(sorted({visit_of(path) for path in folder.glob(pattern)}))
        return ()


SECTIONS: dict[str, type] = {
    "target": Target,
    "catalog": CatalogSpec,
    "tweakreg": TweakRegSpec,
    "astrodrizzle": AstroDrizzleSpec,
    "thresholds": Thresholds,
    "baseline": BaselineSpec,
    "release": ReleaseSpec,
    "synthetic": SyntheticSpec,
    "mast": MastSpec,
    "local": LocalSpec,
}
"""The spec's sections: table name -> the dataclass it is read into."""


def _range_in(annotation: Any) -> Range | None:
    """The `Range` an annotation carries (inside ``| None`` and a dict's values too)."""
    if typing.get_origin(annotation) is Annotated:
        found = [item for item in typing.get_args(annotation)[1:] if isinstance(item, Range)]
        return found[0] if found else None
    for inner in typing.get_args(annotation):
        found_inner = _range_in(inner)
        if found_inner is not None:
            return found_inner
    return None


def key_ranges() -> dict[str, Range]:
    """Every ranged key of a spec, ``[section].key`` -> its `Range`, as the sections
    declare them (docs/field-spec.md lists them)."""
    ranges = {}
    for section, cls in SECTIONS.items():
        for name, annotation in typing.get_type_hints(cls, include_extras=True).items():
            found = _range_in(annotation)
            if found is not None:
                ranges[f"[{section}].{name}"] = found
    return ranges
