"""Field specs: what to process and how, loaded from small TOML files.

A field is one declarative TOML file. The package ships its registered fields in
``skyqa/fields/``; a user may pass the path of a spec of their own to ``--field``.
Every key is checked: an unknown key, a missing required key, a value of the wrong type
or outside its physical range is a `~skyqa.errors.FieldSpecError` that names the file,
the key and what is allowed, so a typo never silently falls back to a default.

`skyqa.field.model` holds the sections, each key with its type and range
(`Range`, `key_ranges`), `skyqa.field.rules` the refused keys and the rules between
keys, `skyqa.field.load` the reading and validation.
"""

from skyqa.field.load import (
    load_field_spec,
    parse_field_spec,
    registered_fields,
    resolve_field,
    resolve_fields,
)
from skyqa.field.model import (
    FIELD_KINDS,
    SKY_METHODS,
    AstroDrizzleSpec,
    BaselineSpec,
    CatalogSpec,
    FieldSpec,
    LocalSpec,
    MastSpec,
    PlannedExposure,
    Range,
    ReleaseSpec,
    SyntheticSpec,
    Target,
    Thresholds,
    TweakRegSpec,
    key_ranges,
)
from skyqa.field.rules import REFUSED_KEYS, RETIRED_KEYS

__all__ = [
    "FIELD_KINDS",
    "REFUSED_KEYS",
    "RETIRED_KEYS",
    "SKY_METHODS",
    "AstroDrizzleSpec",
    "BaselineSpec",
    "CatalogSpec",
    "FieldSpec",
    "LocalSpec",
    "MastSpec",
    "PlannedExposure",
    "Range",
    "ReleaseSpec",
    "SyntheticSpec",
    "Target",
    "Thresholds",
    "TweakRegSpec",
    "key_ranges",
    "load_field_spec",
    "parse_field_spec",
    "registered_fields",
    "resolve_field",
    "resolve_fields",
]
