"""The machine-readable summary of a QA run (``summary.json``), schema version 1.

One file per field::

    {
      "schema": "skyqa-summary", "schema_version": 1,
      "field": "horsehead-sim", "created_utc": "2026-11-24T18:00:00+00:00",
      "verdict": "passed" | "failed",
      "environment": {"label": "pinned", "python": "3.11.7", "platform": "...",
                      "versions": {"drizzlepac": "3.11.0", ...},
                      "pip_freeze": ["astropy==8.0.2", ...]},
      "timings": {"exposures": 14.1, "alignment": 6.9, ...},
      "checks": [{"id": "test_seam_free[horsehead-sim-match]", "name": "test_seam_free",
                  "status": "passed" | "failed" | "skipped" | "error",
                  "message": "...", "verdicts": [{"check", "subject", "passed",
                  "measured", "threshold", "item", "value"}, ...]}],
      "metrics": {"mdrizsky_e_s": {method: {rootname: value}},
                  "seam_score": {method: value},
                  "fit_rms_pix": {visit: {"xrms": value, "yrms": value}}}
    }
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
from skyqa.verdict import Verdict

SCHEMA = "skyqa-summary"
SCHEMA_VERSION = 1
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


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def verdict_record(verdict: Verdict) -> dict:
    """A verdict as JSON (a non-finite value becomes null)."""
    record = asdict(verdict)
    record.pop("advice")
    record["value"] = _finite(record["value"])
    return record


def pipeline_metrics(pipeline) -> dict:
    """The metrics the comparison tabulates, from whatever stages the pipeline ran."""
    from skyqa.drizzle import mdrizsky_by_method
    from skyqa.measure import seam_score, seam_table

    results = pipeline.computed()
    metrics: dict = {}
    mosaics = {name: mosaic for name, mosaic in results.get("mosaics", {}).items()}
    if mosaics:
        table = mdrizsky_by_method(mosaics).set_index("rootname")
        metrics["mdrizsky_e_s"] = {
            method: {name: _finite(float(value)) for name, value in table[method].items()}
            for method in table.columns
        }
    if mosaics and "overlaps" in results:
        seams = seam_table(results["overlaps"], {m: v.mdrizsky for m, v in mosaics.items()})
        metrics["seam_score"] = {method: _finite(seam_score(seams, method)) for method in mosaics}
    if "alignment" in results:
        fit = results["alignment"].fit_table
        metrics["fit_rms_pix"] = {
            row["image"].split("_")[0]: {
                "xrms": _finite(float(row["xrms_pix"])),
                "yrms": _finite(float(row["yrms_pix"])),
            }
            for _, row in fit.iterrows()
        }
    return metrics


def build_summary(
    field: str, checks: list[dict], environment: dict, timings: dict, metrics: dict
) -> dict:
    """Assemble a summary document (schema version 1)."""
    failed = any(check["status"] in ("failed", "error") for check in checks)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "field": field,
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "verdict": "failed" if failed or not checks else "passed",
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
    """The JSON Schema of summary version 1 (shipped with skyqa)."""
    return Path(__file__).parent / "schemas" / "summary-v1.schema.json"


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
