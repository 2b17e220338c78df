"""The combined report of a session that checked several fields.

Beside each field's folder (``<report dir>/<field>/``: its page and summary), a session
with two or more fields writes ``<report dir>/index.html``, one table of fields x checks
with the worst rows first, and ``<report dir>/session-summary.json``::

    {"schema": "skyqa-session-summary", "schema_version": 1,
     "created_utc": "...", "verdict": "failed", "headline": "one sentence",
     "fields": [{"field": "mini-sim", "verdict": "passed", "headline": "...",
                 "counts": {...}, "summary": "mini-sim/summary.json"}, ...]}

The session's verdict is its worst field's (interrupted, error, failed, incomplete,
partial, passed, in that order): ``passed`` only when every field passed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from skyqa.report.page import STATUS_ORDER, shown_verdict
from skyqa.report.render import render
from skyqa.summary import write_summary

SCHEMA = "skyqa-session-summary"
SCHEMA_VERSION = 1
VERDICT_ORDER = ("interrupted", "error", "failed", "incomplete", "partial", "passed")
"""Field verdicts, worst first: a session's verdict is its worst field's."""


def generic_id(check_id: str, field: str) -> str:
    """A check's id without its field: ``test_seam_free[mini-sim-match]`` ->
    ``test_seam_free[match]``, ``test_overlaps_connected[mini-sim]`` ->
    ``test_overlaps_connected``."""
    name, bracket, rest = check_id.partition("[")
    if not bracket:
        return check_id
    params = rest[:-1] if rest.endswith("]") else rest
    if params == field:
        return name
    if params.startswith(f"{field}-"):
        return f"{name}[{params[len(field) + 1 :]}]"
    return check_id


def _cell(check: dict) -> dict:
    shown = shown_verdict(check)
    if shown is not None:
        detail = f"{shown['subject']}: {shown['measured']} (required {shown['threshold']})"
    else:
        message = check.get("message", "").strip().splitlines()
        detail = message[-1][:200] if message else ""
    return {"status": check["status"], "detail": detail}


def session_rows(summaries: dict[str, dict]) -> list[dict]:
    """One row per check (its field removed from its id), one cell per field, the rows
    whose worst cell needs a look first (`STATUS_ORDER`), then by name."""
    cells: dict[str, dict[str, dict]] = {}
    for field, summary in summaries.items():
        for check in summary["checks"]:
            cells.setdefault(generic_id(check["id"], field), {})[field] = _cell(check)
    rows = []
    for check, by_field in cells.items():
        worst = min(STATUS_ORDER.get(cell["status"], 1) for cell in by_field.values())
        rows.append({"check": check, "worst": worst, "cells": by_field})
    return sorted(rows, key=lambda row: (row["worst"], row["check"]))


def session_summary(summaries: dict[str, dict]) -> dict:
    """The session's summary document (schema version 1): its verdict and each field's."""
    fields = [
        {
            "field": field,
            "verdict": summary["verdict"],
            "headline": summary["headline"],
            "counts": summary["counts"],
            "summary": f"{field}/summary.json",
        }
        for field, summary in summaries.items()
    ]
    verdicts = [entry["verdict"] for entry in fields]
    verdict = min(verdicts, key=lambda v: VERDICT_ORDER.index(v) if v in VERDICT_ORDER else 0)
    tally = ", ".join(
        f"{verdicts.count(v)} {v}" for v in reversed(VERDICT_ORDER) if verdicts.count(v)
    )
    not_passed = [entry["field"] for entry in fields if entry["verdict"] != "passed"]
    headline = f"{len(fields)} fields: {tally}." + (
        f" Look first at {', '.join(not_passed)}." if not_passed else ""
    )
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "verdict": verdict,
        "headline": headline,
        "fields": fields,
    }


def write_session_report(folder: Path, summaries: dict[str, dict]) -> tuple[dict, list[Path]]:
    """Write ``session-summary.json`` and the combined ``index.html`` into ``folder``;
    return the session summary and the two paths."""

    document = session_summary(summaries)
    summary_path = write_summary(folder / "session-summary.json", document)
    page = folder / "index.html"
    page.write_text(
        render(
            "session.html",
            title=f"skyqa session: {len(summaries)} fields",
            session=document,
            fields=list(summaries),
            rows=session_rows(summaries),
        ),
        encoding="utf-8",
    )
    return document, [summary_path, page]


def schema_path() -> Path:
    """The JSON Schema of the session summary (shipped with skyqa)."""
    return Path(__file__).parents[1] / "schemas" / f"session-summary-v{SCHEMA_VERSION}.schema.json"
