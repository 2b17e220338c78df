"""How verdicts reach pytest: the QA modules (`skyqa.qa`) call these.

`require` fails the test with every failed verdict's sentence; `warn` shows failures as
warnings (a "warn" policy); `record` only hands verdicts to the report; `not_checked`
ends a check without a verdict. Each hands its verdicts to the session's ledger
(`skyqa.plugin.ledger.CheckLedger`), which `use_recorder` installs around each check:
the only state here, and it lives in the plugin, not in the library.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator

import pytest

from skyqa.errors import SkyQAWarning
from skyqa.verdict import Verdict, failures, warnings_of

Recorder = Callable[[list[Verdict]], None]
_recorders: list[tuple[Recorder, bool]] = []


@contextlib.contextmanager
def use_recorder(recorder: Recorder, released: bool = True) -> Iterator[None]:
    """Within the block, every verdict list a check judges goes to ``recorder``.

    ``released``: False for a check of a product the field does not release (its
    ``[release].methods``): its failures are findings, reported, and fail no test.
    """
    entry = (recorder, released)
    _recorders.append(entry)
    try:
        yield
    finally:
        _recorders.remove(entry)


def _hand_on(verdicts: list[Verdict]) -> None:
    if _recorders:
        _recorders[-1][0](verdicts)


def _released() -> bool:
    return _recorders[-1][1] if _recorders else True


def record(verdicts: Iterable[Verdict]) -> None:
    """Hand verdicts to the report without judging them here (another mechanism, such as
    pytest-regressions, decides the test's outcome on the same values)."""
    _hand_on(list(verdicts))


def warn(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """Record verdicts without failing (a check whose policy is "warn"); return the failed.

    Each failed verdict is also raised as a `skyqa.errors.SkyQAWarning`, so pytest shows it.
    """
    verdicts = list(verdicts)
    _hand_on(verdicts)
    failed = [verdict for verdict in verdicts if not verdict.passed]
    for verdict in failed:
        warnings.warn(SkyQAWarning(verdict.message("WARNING")), stacklevel=2)
    return failed


def require(verdicts: Iterable[Verdict], judged_elsewhere: Iterable[Verdict] = ()) -> None:
    """Fail the current test with every failed verdict's sentence, if any failed.

    Every failure is listed, not just the first; pytest shows the sentences without a
    traceback. A check with no verdict at all fails: it has not checked. A verdict that
    is a `~skyqa.verdict.Verdict.warning` does not fail the test: it is raised as a
    `skyqa.errors.SkyQAWarning`, and the check's status is "warned".

    ``judged_elsewhere``: verdicts of the same check that another mechanism judges
    (pytest-regressions' comparison, say). They go to the report with the others, and
    a failure here counts and lists them too, so that the failure and the check's row in
    the report count one set of verdicts.
    """
    verdicts = list(verdicts)
    beside = list(judged_elsewhere)
    _hand_on([*verdicts, *beside])
    if not verdicts and not beside:
        pytest.fail("skyqa bug: a check produced no verdict at all.", pytrace=False)
    for verdict in warnings_of(verdicts):
        warnings.warn(SkyQAWarning(verdict.message()), stacklevel=2)
    if not _released():
        for verdict in failures(verdicts):
            warnings.warn(SkyQAWarning(f"NOT RELEASED, UNFIT: {verdict.message()}"), stacklevel=2)
        return
    if failures(verdicts):
        failed = failures([*verdicts, *beside])
        lines = [verdict.message() for verdict in failed]
        header = f"{len(failed)} of {len(verdicts) + len(beside)} verdicts failed:"
        pytest.fail("\n".join([header, *lines]), pytrace=False)


class NotChecked(pytest.skip.Exception):  # type: ignore[name-defined]
    """Raised by `not_checked`: pytest shows a skip; the ledger records "not run"."""


def not_checked(sentence: str) -> None:
    """End the current check without a verdict, saying why (a missing baseline, say).

    The check is recorded as "not run" with the sentence, so the field's verdict is
    ``incomplete``: a check that could not judge never counts as passed (a plain skip
    would read as "not applicable").

    Raises
    ------
    NotChecked
        Always.
    """
    raise NotChecked(sentence, pytrace=False)
