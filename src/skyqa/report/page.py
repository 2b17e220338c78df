"""The report page a person reads (``index.html``): the header block, the verdict, failures
first, every check with its worst verdict, versions, figures and the field spec; and the
console's one line per check."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from skyqa.report.render import render
from skyqa.verdict import severity


def shown_verdict(check: dict) -> dict | None:
    """The verdict a check's row shows: its worst (`skyqa.verdict.worst`), if any."""
    verdicts = check.get("verdicts", [])
    index = check.get("worst")
    if index is None or not 0 <= index < len(verdicts):
        return None
    return verdicts[index]


def _nearness(verdict: dict) -> str:
    ratio = verdict.get("ratio")
    if ratio is None:
        return ""
    if ratio > 1:
        return f"{ratio:.2f} x the threshold: past it"
    return f"{ratio:.2f} of the way to the threshold"


def _within(check: dict) -> str:
    count = len(check.get("verdicts", []))
    return f"{check.get('within', 0)} of {count} within threshold" if count else ""


def check_line(check: dict) -> str:
    """One line of the console list: status, id, the worst verdict, n of m within."""
    head = f"{check['status'].upper():10} {check['id']}"
    if not check.get("released", True):
        head += " (not released)"
    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        return f"{head}: {message[-1][:200]}" if message else head
    nearness = _nearness(shown)
    return (
        f"{head}: worst {shown['subject']}: {shown['measured']} (required "
        f"{shown['threshold']}{'; ' + nearness if nearness else ''}); {_within(check)}"
    )


HEADER_VERSIONS = ("drizzlepac", "stwcs", "stsci.skypac", "spherical_geometry", "astropy", "skyqa")
"""The package versions the report's header block names (all are in its Versions table)."""


def field_facts(field, exposures, versions: dict) -> list[tuple[str, str]]:
    """What a person needs to know first about the data checked: the report's header block.

    Parameters
    ----------
    field : skyqa.field.FieldSpec
        The field's spec (name, kind, target).
    exposures : skyqa.acquire.ExposureSet or None
        The acquired exposures, where the run got that far (their primary headers are read
        for instrument, detector, filter and exposure time).
    versions : dict
        Package versions, as in the summary's environment.
    """
    from astropy.io import fits

    facts = [
        ("field", f"{field.name} ({field.kind})"),
        ("target", f"{field.target.name}, RA {field.target.ra_deg:.5f}, Dec "
                   f"{field.target.dec_deg:+.5f} (deg, ICRS)"),
    ]  # fmt: skip
    if exposures is not None and exposures.flt_paths:
        headers = [fits.getheader(path, 0) for path in exposures.flt_paths]

        def values(key: str) -> str:
            found = sorted({str(header.get(key, "?")).strip() for header in headers})
            return ", ".join(found)

        exptime = sum(float(header.get("EXPTIME", 0.0)) for header in headers)
        facts += [
            ("instrument", f"{values('TELESCOP')} {values('INSTRUME')}/{values('DETECTOR')}"),
            ("filter", values("FILTER")),
            ("exposures", f"{len(headers)} FLTs in {len(exposures.visit_drz_paths)} visits, "
                          f"{exptime:.0f} s in all"),
        ]  # fmt: skip
    else:
        facts.append(("exposures", "not acquired in this run"))
    facts.append(
        ("versions", ", ".join(f"{name} {versions.get(name, '?')}" for name in HEADER_VERSIONS))
    )
    return facts


STATUS_ORDER = {
    "failed": 0, "error": 0, "not run": 1, "warned": 2, "passed": 3, "skipped": 4,
    "deselected": 5,
}  # fmt: skip
"""Order of the checks on the page: what needs a look first."""


def _row(check: dict) -> dict:
    """A check's row on the page: its worst verdict and, if it has two or more, all of
    them, worst first (`skyqa.verdict.severity`)."""

    shown = shown_verdict(check)
    if shown is None:
        message = check.get("message", "").strip().splitlines()
        worst = {"subject": "", "measured": message[-1][:300] if message else "", "threshold": ""}
    else:
        worst = {key: shown[key] for key in ("subject", "measured", "threshold")}
    verdicts = check.get("verdicts", [])
    ranked = sorted(
        verdicts,
        key=lambda v: severity(v["passed"], v.get("ratio"), v.get("warning", False)),
        reverse=True,
    )
    return {
        "id": check["id"],
        "status": check["status"],
        **worst,
        "nearness": _nearness(shown) if shown is not None else "",
        "within": _within(check),
        "verdicts": [{**v, "nearness": _nearness(v)} for v in ranked] if len(ranked) > 1 else [],
    }


FOLDED = ("passed", "skipped", "deselected")
"""Statuses whose rows the page folds away: what needs no look."""


def write_index(
    path: Path,
    summary: dict,
    spec_text: str,
    figures: list[Path],
    problems: list[str],
    facts: Sequence[tuple[str, str]] = (),
) -> Path:
    """The report page: a header block (``facts``, `field_facts`), verdict, the sky-method
    recommendation (`skyqa.recommend`) with each product's verdict, an index of the
    figures, failures first, the products not released, the checks that need a look
    (failed, warned, not run) with the passed ones folded (each with its worst verdict
    first), versions, figures and the field spec."""
    checks = summary["checks"]
    ranked = sorted(checks, key=lambda check: STATUS_ORDER.get(check["status"], 1))
    page = render(
        "index.html",
        title=f"skyqa report: {summary['field']}",
        summary=summary,
        facts=list(facts),
        injected_fault=summary["environment"].get("injected_fault"),
        failures=[
            check
            for check in checks
            if check["status"] in ("failed", "error") and check.get("released", True)
        ],
        unreleased=[
            check
            for check in checks
            if check["status"] in ("failed", "error") and not check.get("released", True)
        ],
        recommendation=summary.get("recommendation"),
        attention=[_row(check) for check in ranked if check["status"] not in FOLDED],
        folded=[_row(check) for check in ranked if check["status"] in FOLDED],
        problems=problems,
        figures=[
            (figure.stem, base64.b64encode(figure.read_bytes()).decode()) for figure in figures
        ],
        spec_text=spec_text,
    )
    path.write_text(page, encoding="utf-8")
    return path
