"""Verdicts: the outcome of one check on one subject, as a sentence a person can act on."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Verdict:
    """One check on one subject (an exposure, a visit, a pair, a mosaic).

    ``measured`` and ``threshold`` are short texts with units, for example
    ``"0.0123 e-/s"`` and ``"<= 0.01 e-/s"``. ``advice`` says what to look at next.
    ``item`` is the id of the visit, exposure or pair the verdict is about (for
    selecting and reporting), ``value`` the measured number where there is one, and
    ``limit`` the threshold as a number in the units of ``value``: an upper bound on
    ``|value|`` (``upper``, the default) or a lower bound on ``value``.

    ``warning``: a verdict that did not pass its threshold but is only reported, without
    failing its check (a grade between good and accepted, say); ``passed`` is then False.
    """

    check: str
    subject: str
    passed: bool
    measured: str
    threshold: str
    advice: str
    item: str = ""
    value: float | None = None
    limit: float | None = None
    upper: bool = True
    warning: bool = False

    def __post_init__(self) -> None:
        # A comparison of numpy numbers gives numpy.bool_, which JSON and YAML refuse.
        object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "warning", bool(self.warning) and not self.passed)

    def ratio(self) -> float | None:
        """How near the measured value is to its threshold: ``|value| / limit`` for an
        upper bound, ``limit / value`` for a lower one. 1 is at the threshold, above 1 is
        past it; inf for a value that is not finite; None where there is no number."""
        if self.value is None or self.limit is None:
            return None
        if not is_finite(self.value):
            return math.inf
        if self.upper:
            numerator, denominator = abs(self.value), self.limit
        else:
            numerator, denominator = self.limit, self.value
        if denominator <= 0:
            return 0.0 if numerator <= 0 else math.inf
        return max(0.0, numerator / denominator)

    def message(self, failed_word: str = "FAILED") -> str:
        """The verdict as one sentence (``failed_word`` where it did not pass, WARNING for
        a `warning`)."""
        outcome = "passed" if self.passed else "WARNING" if self.warning else failed_word
        text = (
            f"{self.check} {outcome} for {self.subject}: measured {self.measured}, "
            f"required {self.threshold}."
        )
        return text if self.passed else f"{text} Next: {self.advice}"


def is_finite(value: object) -> bool:
    """Whether ``value`` is a real number that is not NaN or infinite."""
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def finite_or_none(value: object) -> float | None:
    """A finite number as float, anything else (NaN, inf, None, text) as None (JSON null)."""
    if isinstance(value, str) or not is_finite(value):
        return None
    return float(value)  # type: ignore[arg-type]


def severity(passed: bool, ratio: float | None, warning: bool = False) -> tuple[int, float]:
    """How much a verdict needs a look, for ordering: a failed one before a warning, a
    warning before any that passed; among those, the larger `Verdict.ratio` (one that did
    not pass without a finite ratio counts as furthest past its threshold, a passed one
    without a number as the least)."""
    if ratio is None:
        ratio = math.inf if not passed else -1.0
    rank = 0 if passed else 1 if warning else 2
    return (rank, ratio)


def worst(verdicts: Sequence[Verdict]) -> int | None:
    """Index of the verdict a summary row shows: the greatest `severity`, the first of
    equals. None when there are no verdicts."""
    if not verdicts:
        return None
    ranks = [severity(verdict.passed, verdict.ratio(), verdict.warning) for verdict in verdicts]
    best = 0
    for index in range(1, len(verdicts)):
        if ranks[index] > ranks[best]:
            best = index
    return best


def about(verdicts: Iterable[Verdict], item: str) -> list[Verdict]:
    """The verdicts about one item; all of them when ``item`` is ``"all"``."""
    return [verdict for verdict in verdicts if item in ("all", verdict.item)]


def annotate(verdicts: Iterable[Verdict], note: str) -> list[Verdict]:
    """Put ``note`` (a known cause, say) in front of the advice of every failed verdict."""
    if not note:
        return list(verdicts)
    return [
        verdict
        if verdict.passed
        else replace(verdict, advice=f"{note} {verdict.advice[:1].upper()}{verdict.advice[1:]}")
        for verdict in verdicts
    ]


def failures(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts that did not pass and are not warnings: those that fail a check."""
    return [verdict for verdict in verdicts if not verdict.passed and not verdict.warning]


def warnings_of(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts that did not pass but are only reported (`Verdict.warning`)."""
    return [verdict for verdict in verdicts if verdict.warning]
