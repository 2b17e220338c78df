"""Verdicts: the outcome of one check on one subject, as a sentence a person can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Verdict:
    """One check on one subject (an exposure, a visit, a pair, a mosaic).

    ``measured`` and ``threshold`` are short texts with units, for example
    ``"0.0123 e-/s"`` and ``"<= 0.01 e-/s"``. ``advice`` says what to look at next.
    ``item`` is the id of the visit, exposure or pair the verdict is about (for
    selecting and reporting), ``value`` the measured number where there is one.
    """

    check: str
    subject: str
    passed: bool
    measured: str
    threshold: str
    advice: str
    item: str = ""
    value: float | None = None

    def message(self) -> str:
        """The verdict as one sentence."""
        outcome = "passed" if self.passed else "FAILED"
        text = (
            f"{self.check} {outcome} for {self.subject}: measured {self.measured}, "
            f"required {self.threshold}."
        )
        return text if self.passed else f"{text} Next: {self.advice}"


def about(verdicts: Iterable[Verdict], item: str) -> list[Verdict]:
    """The verdicts about one item; all of them when ``item`` is ``"all"``."""
    return [verdict for verdict in verdicts if item in ("all", verdict.item)]


_recorder: Callable[[list[Verdict]], None] | None = None


def set_recorder(recorder: Callable[[list[Verdict]], None] | None) -> None:
    """Have `require` hand every verdict list to ``recorder`` (the report's ledger)."""
    global _recorder
    _recorder = recorder


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
    """The verdicts that did not pass."""
    return [verdict for verdict in verdicts if not verdict.passed]


def report(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """Record verdicts without failing (a check whose policy is "warn"); return the failed.

    Each failed verdict is also raised as a `skyqa.errors.SkyQAWarning`, so pytest shows it.
    """
    import warnings

    from skyqa.errors import SkyQAWarning

    verdicts = list(verdicts)
    if _recorder is not None:
        _recorder(verdicts)
    failed = failures(verdicts)
    for verdict in failed:
        warnings.warn(SkyQAWarning(verdict.message()), stacklevel=2)
    return failed


def require(verdicts: Iterable[Verdict]) -> None:
    """Fail the current test with every failed verdict's sentence, if any failed.

    Every failure is listed, not just the first; pytest shows the sentences without a
    traceback.
    """
    import pytest

    verdicts = list(verdicts)
    if _recorder is not None:
        _recorder(verdicts)
    if not verdicts:
        pytest.fail("skyqa bug: a check produced no verdict at all.", pytrace=False)
    failed = failures(verdicts)
    if failed:
        lines = [verdict.message() for verdict in failed]
        header = f"{len(failed)} of {len(verdicts)} verdicts failed:"
        pytest.fail("\n".join([header, *lines]), pytrace=False)
