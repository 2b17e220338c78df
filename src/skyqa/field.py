"""Field specs: what to process and how, loaded from small TOML files.

A field is one declarative TOML file. The package ships its registered fields in
``skyqa/fields/``; a user may pass the path of a spec of their own to ``--field``.
Every key is checked: an unknown key, a missing required key or a value of the wrong type
is a `~skyqa.errors.FieldSpecError` that names the file, the key and what is allowed,
so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from skyqa.errors import FieldSpecError, UnknownFieldError

SKY_METHODS: tuple[str, ...] = ("localmin", "match", "globalmin+match", "globalmin")
"""AstroDrizzle ``skymethod`` values skyqa knows how to check, in report order."""

FIELD_KINDS: tuple[str, ...] = ("synthetic", "mast", "local")


@dataclass(frozen=True)
class Target:
    """The pointing target: name and ICRS position of RA_TARG/DEC_TARG."""

    name: str
    ra_deg: float
    dec_deg: float


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
    n_stars: int = 900
    star_mag_bright: float = 17.0
    star_mag_faint: float = 24.0
    psf_fwhm_pix: float = 1.2
    psf_moffat_beta: float = 2.5
    sky_base_e_s: float = 0.77
    visit_pedestal_range_e_s: float = 0.05
    exposure_pedestal_jitter_e_s: float = 0.003
    nebula_blobs: int = 40
    nebula_peak_e_s: float = 0.6
    read_noise_e: float = 15.0
    dark_e_s: float = 0.02
    hot_pixel_fraction: float = 0.004
    dead_pixel_fraction: float = 0.001
    pointing_shift_max_arcsec: float = 0.7
    pointing_rotation_max_deg: float = 0.02
    pointing_scale_max: float = 2.0e-4
    catalog_mag_limit: float = 21.5
    catalog_radius_arcmin: float = 5.0
    # Real-world imperfections (`skyqa.simulate`), each 0 for a perfect replica:
    catalog_epoch: float = 2016.0
    """Epoch (decimal year) of the Gaia-like catalog's positions; they are carried to
    the exposures' epoch with their measured proper motions, as drizzlepac's
    astrometric catalog is."""
    proper_motion_dispersion_mas_yr: float = 4.0
    """Per-axis dispersion of the stars' true proper motions."""
    catalog_error_scale: float = 1.0
    """Gaia DR3-like position and proper-motion errors (growing with G), times this."""
    two_parameter_mag_limit: float = 20.7
    """Stars fainter (G) than this have no proper motion in the catalog half the time
    (Gaia's 2-parameter solutions): their catalog position stays at the catalog epoch."""
    distortion_residual_pix: float = 0.02
    """RMS over the detector of the true distortion's difference from the header SIP:
    a smooth field of the size the WFC3/IR solution's residuals have."""
    exposure_jitter_mas: float = 3.0
    """Per-axis RMS of each exposure's own pointing error on top of its visit's: a
    part the visit's rscale fit cannot model (the small-angle maneuver's accuracy)."""
    unflagged_cosmic_rays: int = 20
    """Residual cosmic-ray hits per exposure left by the ramp fit, not flagged in DQ."""
    unflagged_snowballs: int = 1
    """IR snowballs per exposure, not flagged in DQ."""


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
    radius_arcmin: float = 5.0
    min_separation_arcsec: float = 0.0


@dataclass(frozen=True)
class TweakRegSpec:
    """TweakReg parameters; the defaults are the Horsehead tutorial's."""

    threshold: float = 4.0
    conv_width: float = 4.5
    minobj: int = 3
    searchrad: float = 1.0
    ylimit: float = 0.4
    nclip: int = 1
    fitgeometry: str = "rscale"


@dataclass(frozen=True)
class AstroDrizzleSpec:
    """AstroDrizzle parameters of the final mosaics; the defaults are the tutorial's."""

    skymethods: tuple[str, ...] = SKY_METHODS
    final_bits: str = "16"
    final_wcs: bool = True
    final_rot: float = 257.0
    final_scale: float | None = None
    preserve: bool = False
    context: bool = False
    output_prefix: str = "f160w"


@dataclass(frozen=True)
class Thresholds:
    """QA thresholds of a field. Units are in the names; see the README for each."""

    fit_rms_max_pix: float = 0.2
    min_matches: int = 4
    residual_shift_max_pix: float = 0.1
    residual_rotation_max_deg: float = 0.005
    residual_scale_max: float = 2.0e-4
    tweakback_agreement_max_mas: float = 5.0
    wcs_truth_max_rms_mas: float = 10.0
    source_offset_max_mas: float = 10.0
    match_max_e_s: float = 0.1
    sky_relation_tolerance_e_s: float = 1.0e-5
    logged_sky_tolerance_e_s: float = 1.0e-6
    seam_max_noise_fraction: float = 0.1
    oracle_tolerance_e_s: float = 0.005
    min_overlap_pixels: int = 500
    unflagged_column_max_sigma: float = 10.0
    delivered_wcs_rms_max_pix: float = 0.5
    delivered_wcs_policy: Literal["warn", "fail", "unaligned"] = "warn"
    """``warn``: the archive's own alignment is reported as a warning; ``fail``: as a
    failure; ``unaligned``: the spec declares its visit products deliberately unaligned
    (the synthetic fields), so the check does not apply and says so."""


@dataclass(frozen=True)
class BaselineSpec:
    """Absolute tolerances of the baseline comparison, per table and column.

    Columns not named use ``default_atol``; integer and text columns compare exactly.
    """

    default_atol: float = 1.0e-6
    alignment: dict[str, float] = field(default_factory=dict)
    mdrizsky: dict[str, float] = field(default_factory=dict)
    seams: dict[str, float] = field(default_factory=dict)


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
    synthetic: SyntheticSpec | None = None
    mast: MastSpec | None = None
    local: LocalSpec | None = None
    source_path: Path | None = field(default=None, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def local_path(self, value: str) -> Path:
        """A path of the [local] section, resolved against the spec file's folder."""
        path = Path(value).expanduser()
        if path.is_absolute() or self.source_path is None:
            return path
        return self.source_path.parent / path

    def visit_ids(self) -> tuple[str, ...]:
        """Visit ids (lower-case ASN_ID), sorted, known before the pipeline runs: from the
        synthetic plan, the declared associations of a MAST field, or the visit DRZ
        files in a local field's folder; () if unknown."""
        if self.synthetic is not None:
            return tuple(sorted({e.asn_id.lower() for e in self.synthetic.exposures}))
        if self.mast is not None:
            return tuple(sorted(name.lower() for name in self.mast.expected_associations))
        if self.local is not None:
            folder = self.local_path(self.local.directory)
            from skyqa.names import visit_of  # as the checks name a visit

            return tuple(sorted({visit_of(path) for path in folder.glob("*_drz.fits")}))
        return ()

    def fingerprint(self) -> str:
        """Return a SHA-256 hex digest of the spec's content (not of its file path)."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- loading and validation -----------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "target": Target,
    "catalog": CatalogSpec,
    "tweakreg": TweakRegSpec,
    "astrodrizzle": AstroDrizzleSpec,
    "thresholds": Thresholds,
    "baseline": BaselineSpec,
    "synthetic": SyntheticSpec,
    "mast": MastSpec,
    "local": LocalSpec,
}
_TOP_LEVEL_KEYS = {"name", "description", "kind", *_SECTIONS}


RETIRED_KEYS = {
    "match_truth_tolerance_e_s": "the pedestal-truth tolerance is now half the seam threshold "
    "(seam_max_noise_fraction) of each exposure's pixel noise, so that the two checks agree "
    "on what a seam is (README, test_match_recovers_injected_pedestals); delete the line.",
}
"""Keys of earlier skyqa versions, with what replaced them."""


REFUSED_KEYS = {
    "updatewcs": "skyqa never runs updatewcs: it would rebuild the archive's WCS from the "
    "reference files (IDCTAB, NPOLFILE, D2IMFILE under $iref, or from CRDS) and drop the "
    "alignment the checks judge; the headers' SIP and OCX/OCY keywords are what drizzlepac "
    "uses (README, 'Real data'). Delete the line.",
    "driz_cr": "skyqa drizzles aligned, cosmic-ray-flagged FLTs with driz_cr off, as the "
    "tutorial does; cosmic-ray rejection would also need the exposures' median and blot "
    "steps (README, 'Real data'). Delete the line.",
}
"""Keys skyqa refuses on purpose (they would need reference files, or change what is
checked), with the reason."""

_POSITIVE = "> 0"
RANGES: dict[str, tuple[float | None, float | None, bool]] = {
    # "[section].key": (low, high, low is excluded); None: unbounded
    **{
        f"[thresholds].{name}": (0.0, None, True)
        for name in (
            "fit_rms_max_pix",
            "residual_shift_max_pix",
            "residual_rotation_max_deg",
            "residual_scale_max",
            "tweakback_agreement_max_mas",
            "wcs_truth_max_rms_mas",
            "source_offset_max_mas",
            "match_max_e_s",
            "sky_relation_tolerance_e_s",
            "logged_sky_tolerance_e_s",
            "seam_max_noise_fraction",
            "oracle_tolerance_e_s",
            "unflagged_column_max_sigma",
            "delivered_wcs_rms_max_pix",
        )
    },
    "[thresholds].min_matches": (1, None, False),
    "[thresholds].min_overlap_pixels": (1, None, False),
    "[tweakreg].threshold": (0.0, None, True),
    "[tweakreg].conv_width": (0.0, None, True),
    "[tweakreg].minobj": (1, None, False),
    "[tweakreg].searchrad": (0.0, None, True),
    "[tweakreg].ylimit": (0.0, None, True),
    "[tweakreg].nclip": (0, None, False),
    "[astrodrizzle].final_rot": (-360.0, 360.0, False),
    "[astrodrizzle].final_scale": (0.0, None, True),
    "[catalog].radius_arcmin": (0.0, 60.0, True),
    "[catalog].min_separation_arcsec": (0.0, None, False),
    "[target].ra_deg": (0.0, 360.0, False),
    "[target].dec_deg": (-90.0, 90.0, False),
    "[baseline].default_atol": (0.0, None, False),
    "[synthetic].n_stars": (1, None, False),
    "[synthetic].psf_fwhm_pix": (0.0, None, True),
    "[synthetic].hot_pixel_fraction": (0.0, 1.0, False),
    "[synthetic].dead_pixel_fraction": (0.0, 1.0, False),
    "[synthetic].catalog_radius_arcmin": (0.0, 60.0, True),
}
"""The physical range of numeric spec values: a negative threshold, a zero search
radius or a fraction above 1 is refused with the range in the message."""
_NOT_NEGATIVE_SYNTHETIC = (
    "sky_base_e_s",
    "visit_pedestal_range_e_s",
    "exposure_pedestal_jitter_e_s",
    "nebula_blobs",
    "nebula_peak_e_s",
    "read_noise_e",
    "dark_e_s",
    "pointing_shift_max_arcsec",
    "pointing_rotation_max_deg",
    "pointing_scale_max",
    "proper_motion_dispersion_mas_yr",
    "catalog_error_scale",
    "distortion_residual_pix",
    "exposure_jitter_mas",
    "unflagged_cosmic_rays",
    "unflagged_snowballs",
)
RANGES.update({f"[synthetic].{name}": (0.0, None, False) for name in _NOT_NEGATIVE_SYNTHETIC})
FIT_GEOMETRIES = ("shift", "rscale", "general")


def _range_text(low: float | None, high: float | None, open_low: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if open_low else '>='} {low:g}")
    if high is not None:
        parts.append(f"<= {high:g}")
    return " and ".join(parts)


def _check_ranges(sections: dict[str, Any], source: str) -> None:
    """Refuse numeric values outside their physical range (`RANGES`), a fit geometry
    TweakReg does not know, no sky method, and negative baseline tolerances.

    Raises
    ------
    FieldSpecError
        Naming the key, its value and the allowed range.
    """
    for where, (low, high, open_low) in RANGES.items():
        section, key = where[1:].split("].")
        value = getattr(sections.get(section), key, None)
        if value is None:
            continue
        below = low is not None and (value <= low if open_low else value < low)
        if below or (high is not None and value > high):
            raise FieldSpecError(
                f"{source}: {where} is {value!r}; allowed: {_range_text(low, high, open_low)}."
            )
    for table in ("alignment", "mdrizsky", "seams"):
        for column, tolerance in getattr(sections["baseline"], table).items():
            if tolerance < 0:
                raise FieldSpecError(
                    f"{source}: [baseline].{table}.{column} is {tolerance!r}; allowed: >= 0."
                )
    if sections["tweakreg"].fitgeometry not in FIT_GEOMETRIES:
        raise FieldSpecError(
            f"{source}: [tweakreg].fitgeometry is {sections['tweakreg'].fitgeometry!r}; "
            f"allowed: {', '.join(FIT_GEOMETRIES)}."
        )
    if not sections["astrodrizzle"].skymethods:
        raise FieldSpecError(
            f"{source}: [astrodrizzle].skymethods is empty; name at least one of "
            f"{', '.join(SKY_METHODS)}."
        )
    synthetic = sections.get("synthetic")
    for exposure in synthetic.exposures if synthetic else ():
        if exposure.exptime <= 0:
            raise FieldSpecError(
                f"{source}: exposure {exposure.rootname} has exptime {exposure.exptime!r}; "
                "allowed: > 0 s."
            )


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a dataclass field annotation and return it normalised.

    Integers are accepted where floats are expected; lists become tuples.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise FieldSpecError(f"{where} is {value!r}; allowed values: {allowed}.")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise FieldSpecError(f"{where} must be a table, got {value!r}.")
        return {str(key): _coerce(item, args[1], f"{where}.{key}") for key, item in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise FieldSpecError(f"{where} must be a list, got {value!r}.")
        item_type = args[0]
        return tuple(
            _coerce(item, item_type, f"{where}[{index}]") for index, item in enumerate(value)
        )
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldSpecError(f"{where} must be a number, got {value!r}.")
        return float(value)
    if annotation in (int, str, bool):
        if isinstance(value, bool) != (annotation is bool) or not isinstance(value, annotation):
            raise FieldSpecError(
                f"{where} must be of type {_type_name(annotation)}, got {value!r}."
            )
        return value
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise FieldSpecError(f"{where} must be a table, got {value!r}.")
        return _build(annotation, value, where)
    raise TypeError(f"skyqa bug: no coercion for annotation {annotation!r} at {where}")


def _build(cls: type, mapping: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``mapping``, rejecting unknown and missing keys."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    retired = [key for key in unknown if key in RETIRED_KEYS]
    if retired:
        raise FieldSpecError(
            f"{where}: {retired[0]} is no longer a key: {RETIRED_KEYS[retired[0]]}"
        )
    refused = [key for key in unknown if key in REFUSED_KEYS]
    if refused:
        raise FieldSpecError(f"{where}: {refused[0]} is refused: {REFUSED_KEYS[refused[0]]}")
    if unknown:
        allowed = ", ".join(sorted(fields))
        raise FieldSpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}. Allowed keys: {allowed}."
        )
    values = {}
    for name, spec_field in fields.items():
        if name in mapping:
            values[name] = _coerce(mapping[name], hints[name], f"{where}.{name}")
        elif (
            spec_field.default is dataclasses.MISSING
            and spec_field.default_factory is dataclasses.MISSING
        ):
            raise FieldSpecError(f"{where}: required key '{name}' is missing.")
    return cls(**values)


def _singular_exposure_tables(raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ``[[synthetic.exposure]]`` tables as the ``exposures`` list."""
    synthetic = raw.get("synthetic")
    if isinstance(synthetic, dict) and "exposure" in synthetic:
        synthetic = dict(synthetic)
        synthetic["exposures"] = synthetic.pop("exposure")
        return {**raw, "synthetic": synthetic}
    return raw


def parse_field_spec(raw: dict[str, Any], source: str = "<field spec>") -> FieldSpec:
    """Validate a field spec given as a mapping (as read from TOML).

    Parameters
    ----------
    raw : dict
        The spec's content.
    source : str
        Where it came from, used in error messages.

    Returns
    -------
    FieldSpec

    Raises
    ------
    FieldSpecError
        If a key is unknown or missing, a value has the wrong type, or the sections do
        not fit the field's kind.
    """
    raw = _singular_exposure_tables(raw)
    unknown = sorted(set(raw) - _TOP_LEVEL_KEYS)
    if unknown:
        allowed = ", ".join(sorted(_TOP_LEVEL_KEYS))
        raise FieldSpecError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}. Allowed: {allowed}."
        )
    for key in ("name", "description", "kind", "target", "catalog"):
        if key not in raw:
            raise FieldSpecError(f"{source}: required key '{key}' is missing.")
    kind = _coerce(raw["kind"], Literal["synthetic", "mast", "local"], f"{source}: kind")
    if kind not in raw:
        raise FieldSpecError(
            f"{source}: a field of kind '{kind}' needs a [{kind}] section describing its data."
        )
    other_kinds = [k for k in FIELD_KINDS if k != kind and k in raw]
    if other_kinds:
        raise FieldSpecError(
            f"{source}: a field of kind '{kind}' must not have a [{other_kinds[0]}] section."
        )
    sections = {
        key: _build(cls, raw.get(key, {}), f"{source}: [{key}]")
        for key, cls in _SECTIONS.items()
        if key in raw or key in ("tweakreg", "astrodrizzle", "thresholds", "baseline")
    }
    _check_ranges(sections, source)
    unknown_methods = sorted(set(sections["astrodrizzle"].skymethods) - set(SKY_METHODS))
    if unknown_methods:
        raise FieldSpecError(
            f"{source}: [astrodrizzle].skymethods has {', '.join(unknown_methods)}; "
            f"allowed: {', '.join(SKY_METHODS)}."
        )
    prefix = sections["astrodrizzle"].output_prefix
    if not prefix or Path(prefix).name != prefix or prefix in (".", ".."):
        raise FieldSpecError(
            f"{source}: [astrodrizzle].output_prefix {prefix!r} must be a plain file name: "
            "AstroDrizzle writes its mosaics there, inside the step's own working directory."
        )
    if kind == "synthetic":
        _validate_synthetic(sections["synthetic"], source)
    file_catalog = sections["catalog"].source == "file"
    if file_catalog and (kind != "local" or sections["local"].catalog is None):
        raise FieldSpecError(
            f"{source}: [catalog].source = 'file' needs a local field with [local].catalog "
            "set (the path of the catalog file)."
        )
    if kind == "local" and sections["local"].catalog is not None and not file_catalog:
        raise FieldSpecError(
            f"{source}: [local].catalog is set but [catalog].source is "
            f"{sections['catalog'].source!r}: the file would not be used. Set source = "
            "'file' to align to it, or delete the catalog line."
        )
    name = _coerce(raw["name"], str, f"{source}: name")
    description = _coerce(raw["description"], str, f"{source}: description")
    return FieldSpec(name=name, description=description, kind=kind, raw=raw, **sections)


def _validate_synthetic(spec: SyntheticSpec, source: str) -> None:
    if not spec.exposures:
        raise FieldSpecError(f"{source}: [synthetic] lists no exposures.")
    rootnames = [exposure.rootname for exposure in spec.exposures]
    duplicated = sorted({name for name in rootnames if rootnames.count(name) > 1})
    if duplicated:
        raise FieldSpecError(
            f"{source}: [synthetic] exposure rootnames repeat: {', '.join(duplicated)}."
        )
    for exposure in spec.exposures:
        if len(exposure.rootname) != 9 or len(exposure.asn_id) != 9:
            raise FieldSpecError(
                f"{source}: exposure {exposure.rootname!r} (asn_id {exposure.asn_id!r}): "
                "HST rootnames and association ids have 9 characters."
            )
    if not 16 <= spec.detector_size <= 1014:
        raise FieldSpecError(
            f"{source}: [synthetic].detector_size is {spec.detector_size}; "
            "allowed: 16 to 1014 pixels (1014 is the WFC3/IR full frame)."
        )


def load_field_spec(path: str | Path) -> FieldSpec:
    """Read and validate a field spec TOML file.

    Raises
    ------
    FieldSpecError
        If the file cannot be read or parsed, or its content is not a valid spec.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FieldSpecError(f"Cannot read field spec {path}: {error.strerror}.") from error
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise FieldSpecError(f"{path} is not valid TOML: {error}.") from error
    spec = parse_field_spec(raw, source=str(path))
    return dataclasses.replace(spec, source_path=path)


def registered_fields() -> dict[str, Path]:
    """Return the fields shipped with skyqa, name -> spec file, sorted by name."""
    # Beside this module (not importlib.resources: an editable install that maps
    # skyqa._baselines makes skyqa a namespace path that resources cannot read).
    folder = Path(__file__).parent / "fields"
    paths = list(folder.glob("*.toml"))
    return {path.stem: path for path in sorted(paths, key=lambda path: path.stem)}


def resolve_field(name_or_path: str) -> FieldSpec:
    """Load a registered field by name, or a user's spec file by path.

    Raises
    ------
    UnknownFieldError
        If ``name_or_path`` is neither a registered field nor an existing ``.toml`` file;
        the message lists the registered fields.
    """
    known = registered_fields()
    if name_or_path in known:
        return load_field_spec(known[name_or_path])
    candidate = Path(name_or_path).expanduser()
    if candidate.suffix == ".toml" and candidate.is_file():
        return load_field_spec(candidate)
    if candidate.suffix == ".toml":
        raise UnknownFieldError(f"Field spec file {candidate} does not exist.")
    raise UnknownFieldError(
        f"Unknown field {name_or_path!r}. Registered fields: {', '.join(known)}. "
        "Pass one of these names, or the path of your own spec file (ending in .toml); "
        "`skyqa fields` describes each."
    )
