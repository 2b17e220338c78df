"""Known faults, injected on purpose to prove that skyqa's checks catch them.

A QA harness is trusted only if it catches the faults it claims to catch. Each `Fault`
here damages one pipeline stage's output (or what a stage reads, or how drizzlepac
behaves while it runs), always in that stage's own cache entry: the user's input data
and the clean results are never touched, and a faulted result has its own cache key.
The fault names the checks that must then fail.

`skyqa.testing.run_fault_suite` runs a full ``pytest --field`` session per fault (and clean sessions
on several seeds), reads each session's summary.json and tells, per fault, whether the
named checks failed: the table docs/faults.md shows is `skyqa.testing.fault_table` of its result.

Usable without pytest::

    from skyqa.faults import FAULTS
    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), "/tmp/cache", fault=FAULTS["nan-shift"])
    print(pipeline.alignment().shift_table)

or from the command line: ``pytest --field mini-sim --skyqa-inject-fault nan-shift``.
"""

from __future__ import annotations

from skyqa.errors import FieldSpecError
from skyqa.faults.alignment import (
    IsolatedExposure,
    MisalignedExposure,
    MixedFilter,
    NanShift,
    NoopTweakback,
    PointingBeyondSearchrad,
    VisitRotated,
)
from skyqa.faults.base import Fault
from skyqa.faults.chips import ChipOffset, NoCosmicRayRejection, WrongExposureTime
from skyqa.faults.products import ExposureFluxScaled, FlaggedHole, ProductRotated, ProductShifted
from skyqa.faults.sky import (
    EmptyMosaic,
    MatchFallback,
    MismatchedSky,
    SkyGradient,
    SkyHeaderMismatch,
    SkyStep,
    UnflaggedHotColumn,
    WrongSkyMethod,
)
from skyqa.field import FieldSpec

__all__ = ["FAULTS", "Fault", "expected_checks", "faults_for", "get_fault"]


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        NanShift(),
        NoopTweakback(),
        MatchFallback(),
        MismatchedSky(),
        SkyHeaderMismatch(),
        MisalignedExposure(),
        VisitRotated(),
        UnflaggedHotColumn(),
        SkyStep(),
        WrongSkyMethod(),
        EmptyMosaic(),
        PointingBeyondSearchrad(),
        MixedFilter(),
        IsolatedExposure(),
        ChipOffset(),
        NoCosmicRayRejection(),
        WrongExposureTime(),
        ProductShifted(),
        ProductRotated(),
        ExposureFluxScaled(),
        FlaggedHole(),
        SkyGradient(),
    )
}


def faults_for(field: FieldSpec) -> list[str]:
    """The names of the faults that apply to ``field`` (`Fault.applies_to`), in
    `FAULTS` order."""
    return [name for name, fault in FAULTS.items() if fault.applies_to(field)]


def get_fault(text: str) -> Fault:
    """The fault named in ``text``: ``NAME`` (its default size) or ``NAME=SIZE[UNIT]``,
    for example ``misaligned-exposure=20mas`` or ``sky-step=0.3``.

    Raises
    ------
    FieldSpecError
        If there is no such fault (the message lists the known faults), it has no size,
        or the size is not a positive number in its unit.
    """
    name, _, size_text = text.partition("=")
    if name not in FAULTS:
        raise FieldSpecError(f"Unknown fault {name!r}. Known faults: {', '.join(FAULTS)}.")
    fault = FAULTS[name]
    if not size_text:
        return fault
    if not fault.unit:
        raise FieldSpecError(f"fault {name!r} has no size; give it as {name!r} alone")
    unit = fault.unit
    number = size_text.strip()
    if number.endswith(unit):
        number = number[: -len(unit)]
    try:
        size = float(number)
    except ValueError:
        raise FieldSpecError(
            f"fault {name!r}: size {size_text!r} is not a number in {fault.unit} "
            f"(for example {name}={fault.default_size:g}{unit})"
        ) from None
    return fault.with_size(size)


def expected_checks(fault: Fault, field: FieldSpec) -> list[str]:
    """The full ids (with the field) of the checks that must fail under ``fault``."""
    visits = field.visit_ids() or ("all",)
    ids = []
    for check in fault.caught_by:
        check = check.format(first_visit=visits[0], last_visit=visits[-1])
        name, _, param = check.partition("[")
        ids.append(f"{name}[{field.name}-{param}" if param else f"{name}[{field.name}]")
    return ids


# --- running the suite ----------------------------------------------------------------
