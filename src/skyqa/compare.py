"""Side-by-side comparison of QA runs in several environments (``skyqa compare``).

Reads the ``summary.json`` of each run and writes one table, as Markdown and HTML:

- each run's verdict (only ``pass`` means every check ran and none failed) and headline;
- each run's sky-method recommendation, each method's fitness and seams;
- the versions of the key packages, one column per environment;
- per check, its status in each environment (``—`` where a run has no such check; a run
  that wrote no summary shows as crashed);
- per metric (MDRIZSKY per method and exposure, seam score per method, fit RMS per visit),
  the value in each environment and its difference from the baseline: the stored
  baseline tables where given and holding the metric, else the reference environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skyqa.cache import KEY_PACKAGES
from skyqa.drizzle import FALLBACK_MARKER
from skyqa.metrics import named_values, read_tables, summary_metrics
from skyqa.report.render import render
from skyqa.summary import read_summary

MISSING = "—"


@dataclass(frozen=True)
class Run:
    """One environment's run: its label and summary, or why there is none."""

    label: str
    path: Path
    summary: dict | None
    problem: str = ""


def load_runs(paths: list[Path]) -> list[Run]:
    """Read each summary; a missing or unreadable one becomes a run with a problem."""
    runs = []
    for path in paths:
        path = Path(path)
        label = path.parent.name if path.name == "summary.json" else path.stem
        try:
            summary = read_summary(path)
        except FileNotFoundError:
            runs.append(Run(label, path, None, "no summary: the run crashed before writing one"))
            continue
        except (ValueError, OSError) as error:
            runs.append(Run(label, path, None, f"unreadable summary: {error}"))
            continue
        runs.append(Run(summary["environment"].get("label") or label, path, summary))
    return runs


def _status_cell(check: dict) -> str:
    status = check["status"]
    if status in ("failed", "error"):
        text = check.get("message", "")
        if FALLBACK_MARKER in text or "fell back" in text:
            return "FAIL (match fell back)"
        failed = [v["check"] for v in check.get("verdicts", []) if not v["passed"]]
        return f"FAIL ({failed[0]})" if failed else "FAIL"
    return {
        "passed": "pass",
        "skipped": "skip",
        "warned": "pass (warning)",
        "not run": "NOT RUN",
        "deselected": "deselected",
    }.get(status, status)


def verdicts_table(runs: list[Run]) -> pd.DataFrame:
    """Each run's verdict and headline (`skyqa.summary.run_verdict`), one column a run:
    a run that did not check everything never reads as a pass here either."""
    columns = {}
    for run in runs:
        if run.summary is None:
            columns[run.label] = ["crashed" if "crashed" in run.problem else "unreadable", ""]
        else:
            verdict = run.summary["verdict"]
            columns[run.label] = [
                "pass" if verdict == "passed" else verdict.upper(),
                run.summary["headline"],
            ]
    return pd.DataFrame(columns, index=["verdict", "headline"])


def recommendation_table(runs: list[Run]) -> pd.DataFrame:
    """Each run's sky-method recommendation (`skyqa.recommend`) side by side: the
    recommended methods, each method's fitness with its worst and RMS seam (x noise), and
    what the rule of thumb says; ``—`` where a run made none."""
    rows: dict[str, dict[str, str]] = {}
    order = ["recommended", "rule of thumb"]
    for run in runs:
        recommendation = (run.summary or {}).get("recommendation") or {}
        cells = rows.setdefault(run.label, {})
        if "recommended" not in recommendation:
            continue
        cells["recommended"] = ", ".join(recommendation["recommended"]) or "none"
        thumb = recommendation.get("emission") or {}
        if thumb:
            agrees = recommendation.get("agrees")
            cells["rule of thumb"] = (
                f"{thumb['says']} ({100 * thumb['fraction']:.0f} % emission"
                + ("" if agrees is None else ", agrees" if agrees else ", disagrees")
                + ")"
            )
        for method in recommendation["methods"]:
            name = method["method"]
            if name not in order:
                order.append(name)
            cells[name] = (
                f"{'fit' if method['fit'] else 'unfit'}: worst seam {method['worst_seam']:.3f}, "
                f"RMS {method['rms_seam']:.3f}"
            )
    return pd.DataFrame(
        {label: [cells.get(row, MISSING) for row in order] for label, cells in rows.items()},
        index=order,
    )


def versions_table(runs: list[Run]) -> pd.DataFrame:
    """Key package versions (rows) per environment (columns)."""
    columns = {}
    for run in runs:
        versions = run.summary["environment"]["versions"] if run.summary else {}
        columns[run.label] = [versions.get(name, MISSING) for name in (*KEY_PACKAGES, "skyqa")]
    return pd.DataFrame(columns, index=[*KEY_PACKAGES, "skyqa"])


def checks_table(runs: list[Run]) -> pd.DataFrame:
    """Status of every check (rows) in every environment (columns)."""
    order: list[str] = []
    cells: dict[str, dict[str, str]] = {}
    for run in runs:
        cells[run.label] = {}
        for check in run.summary["checks"] if run.summary else []:
            if check["id"] not in order:
                order.append(check["id"])
            cells[run.label][check["id"]] = _status_cell(check)
    table = pd.DataFrame(index=order)
    for run in runs:
        if run.summary is None:
            table[run.label] = "crashed" if "crashed" in run.problem else "unreadable"
        else:
            table[run.label] = [cells[run.label].get(check_id, MISSING) for check_id in order]
    return table


def stored_baseline(baseline_dir: Path | None, field: str) -> dict[str, float | None]:
    """The metrics the stored baseline tables hold, named as in the metrics table."""
    if baseline_dir is None:
        return {}
    return named_values(summary_metrics(read_tables(Path(baseline_dir) / field)))


def metrics_table(
    runs: list[Run],
    reference: str | None = None,
    baseline: dict[str, float | None] | None = None,
) -> pd.DataFrame:
    """Each metric's value per environment and its difference from the baseline.

    The baseline of a metric is its stored value where ``baseline`` has it, else its
    value in the ``reference`` environment (default: the first run with a summary).
    """
    flat = {run.label: named_values(run.summary["metrics"]) for run in runs if run.summary}
    if not flat:
        return pd.DataFrame()
    reference = reference or next(iter(flat))
    names: list[str] = []
    for values in flat.values():
        names += [name for name in values if name not in names]
    baseline = baseline or {}
    rows = []
    for name in names:
        base = baseline.get(name, flat.get(reference, {}).get(name))
        row = {
            "metric": name,
            "baseline": base,
            "baseline from": ("stored" if name in baseline else reference),
        }
        for label, values in flat.items():
            value = values.get(name)
            row[label] = value
            row[f"Δ {label}"] = value - base if value is not None and base is not None else None
        rows.append(row)
    return pd.DataFrame(rows).set_index("metric")


def _format(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_markdown(title: str, sections: list[tuple[str, pd.DataFrame]], notes: list[str]) -> str:
    """The comparison as Markdown tables."""
    lines = [f"# {title}", ""]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    for heading, table in sections:
        lines += [f"## {heading}", ""]
        header = ["", *map(str, table.columns)]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for index, row in table.iterrows():
            lines.append("| " + " | ".join([str(index), *map(_format, row.tolist())]) + " |")
        lines.append("")
    return "\n".join(lines)


FAILING_CELLS = ("FAIL", "crashed", "unreadable", "ERROR", "INCOMPLETE", "INTERRUPTED", "NOT RUN")
"""Cells that start so are shown as failures (class ``failed``); ``PARTIAL`` as partial."""


def _cell(value) -> tuple[str, str]:
    text = _format(value)
    if text.startswith(FAILING_CELLS):
        return text, "failed"
    return text, "partial" if text.startswith("PARTIAL") else ""


def to_html(title: str, sections: list[tuple[str, pd.DataFrame]], notes: list[str]) -> str:
    """The comparison as one self-contained HTML page (`skyqa.report.render`); failures
    are red."""

    tables = [
        {
            "heading": heading,
            "columns": [str(column) for column in table.columns],
            "rows": [
                (str(index), [_cell(value) for value in row.tolist()])
                for index, row in table.iterrows()
            ],
        }
        for heading, table in sections
    ]
    return render("comparison.html", title=title, notes=notes, sections=tables)


def compare(
    paths: list[Path],
    out_dir: Path,
    reference: str | None = None,
    baseline_dir: Path | None = None,
) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.html`` for the runs' summaries."""
    runs = load_runs(paths)
    runs.sort(key=lambda run: run.label != reference)  # the reference column first
    fields = sorted({run.summary["field"] for run in runs if run.summary})
    field = fields[0] if len(fields) == 1 else ", ".join(fields)
    notes = [f"{run.label}: {run.problem} ({run.path})" for run in runs if run.problem]
    sections = [
        ("Verdicts", verdicts_table(runs)),
        ("Which sky method suits this field", recommendation_table(runs)),
        ("Versions", versions_table(runs)),
        ("Checks", checks_table(runs)),
        ("Metrics", metrics_table(runs, reference, stored_baseline(baseline_dir, field))),
    ]
    title = f"skyqa comparison: {field or 'no summaries'}"
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown = out_dir / "comparison.md"
    page = out_dir / "comparison.html"
    markdown.write_text(to_markdown(title, sections, notes))
    page.write_text(to_html(title, sections, notes))
    return markdown, page
