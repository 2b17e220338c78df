"""Reading a field spec: TOML in, a validated `~skyqa.field.FieldSpec` out, every key
checked (unknown, missing, wrong type, outside its range) with a sentence naming it."""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from skyqa.detectors import detector_named
from skyqa.errors import FieldSpecError, UnknownDetectorError, UnknownFieldError
from skyqa.field.model import FIELD_KINDS, SECTIONS, SKY_METHODS, FieldSpec, Range, SyntheticSpec
from skyqa.field.rules import REFUSED_KEYS, RETIRED_KEYS, check_rules

_TOP_LEVEL_KEYS = {"name", "description", "kind", "detector", *SECTIONS}


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", str(annotation))


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a dataclass field annotation and return it normalised.

    Integers are accepted where floats are expected; lists become tuples.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        value = _coerce(value, args[0], where)
        for limit in args[1:]:
            if isinstance(limit, Range) and not limit.admits(value):
                raise FieldSpecError(f"{where} is {value!r}; allowed: {limit.text()}.")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if origin is Literal:
        if value not in args:
            raise FieldSpecError(f"{where} is {value!r}; allowed: {', '.join(args)}.")
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
    hints = typing.get_type_hints(cls, include_extras=True)
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
        for key, cls in SECTIONS.items()
        if key in raw or key in ("tweakreg", "astrodrizzle", "thresholds", "baseline", "release")
    }
    check_rules(sections, source)
    unknown_methods = sorted(set(sections["astrodrizzle"].skymethods) - set(SKY_METHODS))
    if unknown_methods:
        raise FieldSpecError(
            f"{source}: [astrodrizzle].skymethods has {', '.join(unknown_methods)}; "
            f"allowed: {', '.join(SKY_METHODS)}."
        )
    released = sections["release"].methods
    not_drizzled = sorted(set(released or ()) - set(sections["astrodrizzle"].skymethods))
    if not_drizzled:
        raise FieldSpecError(
            f"{source}: [release].methods has {', '.join(not_drizzled)}, which "
            "[astrodrizzle].skymethods does not drizzle; allowed: "
            f"{', '.join(sections['astrodrizzle'].skymethods)}."
        )
    if released is not None and not released:
        raise FieldSpecError(
            f"{source}: [release].methods is empty: a field releases at least one mosaic "
            "(leave the key out to release every drizzled method)."
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
    detector = _detector(raw, kind, sections, source)
    return FieldSpec(
        name=name, description=description, kind=kind, raw=raw, detector=detector, **sections
    )


def _detector(raw: dict[str, Any], kind: str, sections: dict[str, Any], source: str) -> str:
    """The spec's ``detector`` (default WFC3/IR), by its model's name; a MAST query must
    ask for that detector's calibrated exposures and visit mosaics."""
    try:
        model = detector_named(_coerce(raw.get("detector", "WFC3/IR"), str, f"{source}: detector"))
    except UnknownDetectorError as error:
        raise FieldSpecError(f"{source}: {error}") from None
    if kind == "mast":
        wanted = {model.inputs.upper(), model.drizzled.upper()}
        missing = sorted(wanted - {name.upper() for name in sections["mast"].products})
        if missing:
            raise FieldSpecError(
                f"{source}: [mast].products lacks {', '.join(missing)}: {model.name} exposures "
                f"are drizzled from *_{model.inputs}.fits with visit mosaics *_{model.drizzled}"
                ".fits."
            )
    return model.name


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
    folder = Path(__file__).parents[1] / "fields"
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


def resolve_fields(names_or_paths: Sequence[str]) -> list[FieldSpec]:
    """`resolve_field` for each value, where a folder stands for every spec in it
    (``*.toml``, by name), in the order given; a registered field's name is that field
    even where a folder of that name is in the working directory.

    Raises
    ------
    FieldSpecError
        A folder holds no spec, or two specs name the same field.
    """
    specs: list[FieldSpec] = []
    known = registered_fields()
    for value in names_or_paths:
        folder = Path(value).expanduser()
        # A registered name wins over a folder of that name (a report folder, say).
        if value not in known and folder.is_dir():
            found = sorted(folder.glob("*.toml"))
            if not found:
                raise FieldSpecError(
                    f"--field {value}: the folder holds no field spec (*.toml); give a spec "
                    "file, a folder of them, or a registered field's name."
                )
            specs += [load_field_spec(path) for path in found]
        else:
            specs.append(resolve_field(value))
    seen: dict[str, FieldSpec] = {}
    for spec in specs:
        if spec.name in seen:
            raise FieldSpecError(
                f"Two specs name the field {spec.name!r} ({seen[spec.name].source_path} and "
                f"{spec.source_path}): each field needs a name of its own."
            )
        seen[spec.name] = spec
    return specs
