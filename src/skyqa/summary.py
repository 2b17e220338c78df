"""The machine-readable summary of a QA run (``summary.json``), schema version 2.

One file per field::

    {
      "schema": "skyqa-summary", "schema_version": 2,
      "field": "horsehead-sim", "created_utc": "2026-11-24T18:00:00+00:00",
      "verdict": "passed" | "failed" | "error" | "incomplete" | "interrupted" | "partial",
      "headline": "one sentence: what the verdict rests on",
      "counts": {"total": 76, "selected": 76, "passed": 67, "warned": 9, "failed": 0,
                 "error": 0, "skipped": 0, "not run": 0, "deselected": 0},
      "products": {"match": {"released": true, "verdict": "passed", "headline": "...",
                             "counts": {...}, "failed": []}, ...},
      "environment": {"label": "pinned", "python": "3.11.7", "platform": "...",
                      "versions": {"drizzlepac": "3.11.0", ...},
                      "pip_freeze": ["astropy==8.0.2", ...]},
      "timings": {"exposures": 14.1, "alignment": 6.9, ...},
      "checks": [{"id": "test_seam_free[horsehead-sim-match]", "name": "test_seam_free",
                  "status": "passed" | "warned" | "failed" | "error" | "skipped" |
                            "not run" | "deselected",
                  "message": "...", "worst": 3, "within": 85,
                  "product": "match" | "" (shared), "released": true,
                  "verdicts": [{"check", "subject", "passed", "measured",
                                "threshold", "item", "value", "limit", "ratio"}, ...]}],
      "metrics": {"mdrizsky_e_s": {method: {rootname: value}},
                  "seam_score": {method: value},
                  "fit_rms_pix": {visit: {"xrms": value, "yrms": value}}}
    }

``metrics`` is `skyqa.metrics.summary_metrics` of the run's metric tables, the tables the
baselines store.

Version 2 (this one) added ``headline``, ``counts``, the verdicts ``error``,
``incomplete``, ``interrupted`` and ``partial``, the check status ``deselected``, and each
check's ``worst`` (index of its worst verdict) and ``within`` (verdicts within their
threshold); version 1 called a run that checked nothing "passed", so it is not read.
Issue 31 added, within version 2, ``products`` (a verdict per sky method's mosaic), each
check's ``product`` and ``released``, and each verdict's ``warning``: the field's
``verdict`` and ``counts`` rest on the shared checks and the released products' checks.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import platform
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from skyqa.cache import KEY_PACKAGES, package_versions
from skyqa.verdict import Verdict, finite_or_none, worst

SCHEMA = "skyqa-summary"
SCHEMA_VERSION = 2
COMPLETE_VERDICTS = ("passed", "failed")
"""Verdicts of a run in which every check for the field ran."""
STATUSES = ("passed", "warned", "failed", "error", "skipped", "not run", "deselected")
REPORTED_PACKAGES = (*KEY_PACKAGES, "skyqa", "stsci.tools", "photutils", "scipy", "pandas")


def environment_info(label: str) -> dict:
    """Python, platform, key package versions and the full list of installed packages."""
    freeze = sorted(f"{dist.metadata['Name']}=={dist.version}" for dist in metadata.distributions())
    return {
        "label": label,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": package_versions(REPORTED_PACKAGES),
        "pip_freeze": freeze,
    }


def verdict_record(verdict: Verdict) -> dict:
    """A verdict as JSON (a non-finite value becomes null; its ratio says inf as null too,
    and its ``measured`` text says what it was)."""
    record = asdict(verdict)
    record.pop("advice")
    record.pop("upper")
    record["value"] = finite_or_none(record["value"])
    record["limit"] = finite_or_none(record["limit"])
    ratio = verdict.ratio()
    record["ratio"] = None if ratio is None or not math.isfinite(ratio) else round(ratio, 6)
    return record


def rank_check(check: dict, verdicts: list[Verdict]) -> None:
    """Set a check record's ``worst`` (index of `skyqa.verdict.worst`) and ``within``
    (how many of its verdicts are within their threshold)."""
    check["worst"] = worst(verdicts)
    check["within"] = sum(verdict.passed for verdict in verdicts)


def _count(checks: list[dict]) -> dict:
    counts = {status: 0 for status in STATUSES}
    for check in checks:
        counts[check["status"]] = counts.get(check["status"], 0) + 1
    counts["total"] = len(checks)
    counts["selected"] = len(checks) - counts["deselected"]
    return counts


def _listed(checks: list[dict], limit: int = 5) -> str:
    names = [check["id"] for check in checks]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def run_verdict(checks: list[dict], interrupted: str = "", error: str = "") -> tuple[str, str]:
    """A field's verdict and its headline sentence, from its checks' statuses.

    ``passed`` only when every check for the field was selected, ran, and none failed
    (skipped checks are not applicable: their reason is in their message). Otherwise,
    the first that applies: ``interrupted`` (``interrupted`` says how), ``error`` (the
    pipeline could not make what the checks need: ``error`` is its sentence; or checks
    could not be evaluated), ``failed``, ``incomplete`` (selected checks did not run),
    ``partial`` (a deliberate selection: ``-k``, ``-m``, ``--deselect``, ``--lf``).
    """
    counts = _count(checks)
    selected, total = counts["selected"], counts["total"]
    ran = selected - counts["not run"]
    by_status = {status: [c for c in checks if c["status"] == status] for status in STATUSES}
    if interrupted:
        return "interrupted", (
            f"Interrupted ({interrupted}): {ran} of {total} checks ran before it stopped; "
            "this is no verdict on the field."
        )
    if error:
        return "error", f"The pipeline could not produce what the checks need: {error}"
    if by_status["error"]:
        first = by_status["error"][0]
        reason = first.get("message", "").strip().splitlines()
        return "error", (
            f"{counts['error']} of {selected} checks could not be evaluated "
            f"({_listed(by_status['error'])})" + (f": {reason[-1][:300]}" if reason else ".")
        )
    not_run = (
        f"; {counts['not run']} did not run ({_listed(by_status['not run'])})"
        if by_status["not run"]
        else ""
    )
    if by_status["failed"]:
        return "failed", (
            f"{counts['failed']} of {selected} checks failed "
            f"({_listed(by_status['failed'])}){not_run}."
        )
    if by_status["not run"]:
        reasons = [c["message"] for c in by_status["not run"] if c.get("message")]
        return "incomplete", (
            f"{counts['not run']} of {selected} selected checks did not run "
            f"({_listed(by_status['not run'])}): no verdict on the field."
            + (f" {reasons[0].strip().splitlines()[0][:400]}" if reasons else "")
        )
    passed = counts["passed"] + counts["warned"]
    details = _details(counts)
    if counts["deselected"]:
        return "partial", (
            f"{selected} of {total} checks selected; {passed} passed{details}. "
            "Not a verdict on the whole field."
        )
    return "passed", f"All {total} checks ran: {passed} passed{details}."


def _details(counts: dict) -> str:
    parts = []
    if counts["warned"]:
        parts.append(f"{counts['warned']} with warnings")
    if counts["skipped"]:
        parts.append(f"{counts['skipped']} not applicable")
    return f" ({', '.join(parts)})" if parts else ""


def counted(checks: list[dict]) -> list[dict]:
    """The checks a field's verdict rests on: those shared by all its products and those
    of its released products (a check record without ``released`` is counted)."""
    return [check for check in checks if check.get("released", True)]


def product_verdicts(checks: list[dict], interrupted: str = "", error: str = "") -> dict[str, dict]:
    """Each product's verdict (a sky method's mosaic): `run_verdict` of the checks shared
    by all products and the product's own, with whether it is released."""
    shared = [check for check in checks if not check.get("product")]
    products: dict[str, dict] = {}
    for method in dict.fromkeys(check["product"] for check in checks if check.get("product")):
        own = [check for check in checks if check.get("product") == method]
        verdict, headline = run_verdict([*shared, *own], interrupted, error)
        products[method] = {
            "released": all(check.get("released", True) for check in own),
            "verdict": verdict,
            "headline": headline,
            "counts": _count(own),
            "failed": [check["id"] for check in own if check["status"] in ("failed", "error")],
        }
    return products


def _not_released(products: dict[str, dict]) -> str:
    """A sentence on the products not released, each with its own checks' outcome."""
    parts = []
    for method, product in products.items():
        if product["released"]:
            continue
        failed = product["failed"]
        outcome = (
            f"UNFIT, {len(failed)} of its {product['counts']['selected']} checks failed "
            f"({', '.join(failed[:5])}{' and more' if len(failed) > 5 else ''})"
            if failed
            else f"its {product['counts']['selected']} checks raised no failure"
        )
        parts.append(f"{method} ({outcome})")
    return f" Not released, not counted: {'; '.join(parts)}." if parts else ""


def build_summary(
    field: str,
    checks: list[dict],
    environment: dict,
    timings: dict,
    metrics: dict,
    interrupted: str = "",
    error: str = "",
) -> dict:
    """Assemble a summary document (schema version 2); see `run_verdict`.

    The field's verdict and ``counts`` rest on the `counted` checks; ``products`` gives
    each sky method's mosaic its own verdict (`product_verdicts`), and the headline names
    the products not released, with their findings.
    """
    verdict, headline = run_verdict(counted(checks), interrupted, error)
    products = product_verdicts(checks, interrupted, error)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "field": field,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "verdict": verdict,
        "headline": headline + _not_released(products),
        "counts": _count(counted(checks)),
        "products": products,
        "environment": environment,
        "timings": {stage: round(seconds, 3) for stage, seconds in timings.items()},
        "checks": checks,
        "metrics": metrics,
    }


def write_summary(path: Path, summary: dict) -> Path:
    """Write a summary as JSON, atomically (write, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(summary, indent=1))
    partial.replace(path)
    return path


def schema_path() -> Path:
    """The JSON Schema of the summary's current version (shipped with skyqa)."""
    return Path(__file__).parent / "schemas" / f"summary-v{SCHEMA_VERSION}.schema.json"


def read_summary(path: Path) -> dict:
    """Read a summary, refusing other schemas and versions.

    Raises
    ------
    ValueError
        If the file is not a skyqa summary of a known schema version.
    """
    document = json.loads(Path(path).read_text())
    if document.get("schema") != SCHEMA or document.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(
            f"{path} is not a skyqa summary of schema version {SCHEMA_VERSION} "
            f"(schema {document.get('schema')!r}, version {document.get('schema_version')!r})."
        )
    return document
