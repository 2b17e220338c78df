"""A field's report, as the plugin writes it, for a script too: ``summary.json`` and
``index.html`` with the figures, from a summary (`skyqa.summary.build_summary`) and the
pipeline that made the results.

Example::

    from skyqa.report.field_report import write_field_report

    written = write_field_report(Path("reports/mini-sim"), summary, pipeline)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from skyqa.report.page import field_facts, write_index
from skyqa.report.stages import cached_figures
from skyqa.summary import write_summary

if TYPE_CHECKING:
    from skyqa.pipeline import Pipeline


def write_field_report(
    folder: Path, summary: dict, pipeline: Pipeline | None, interrupted: bool = False
) -> list[Path]:
    """Write ``summary.json`` and ``index.html`` (its figures in ``figures/``) into
    ``folder``; the paths written. Without a pipeline (a field that failed before it
    had one), the page has no figures and no header block; an ``interrupted`` run draws
    no figures. A figure or the header block that cannot be made is said on the page,
    never raised."""
    return [
        write_summary(folder / "summary.json", summary),
        _write_page(folder, summary, pipeline, interrupted),
    ]


def _write_page(folder: Path, summary: dict, pipeline: Pipeline | None, interrupted: bool) -> Path:
    figures: list[Path] = []
    problems: list[str] = []
    facts: list[tuple[str, str]] = []
    spec_text = ""
    if pipeline is not None:
        versions = summary["environment"]["versions"]
        try:
            exposures = pipeline.computed().exposures
            facts = field_facts(pipeline.field, exposures, versions)
        except Exception as error:  # the header block must never sink the report
            problems.append(f"header block: {type(error).__name__}: {error}")
        source = getattr(pipeline.field, "source_path", None)
        spec_text = source.read_text() if source is not None else ""
        if interrupted:
            problems.append("No figures: the run was interrupted.")
        else:
            try:
                figures, problems = cached_figures(pipeline, folder / "figures")
            except Exception as error:  # a figure must never sink the report
                problems.append(f"figures could not be made: {type(error).__name__}: {error}")
    return write_index(folder / "index.html", summary, spec_text, figures, problems, facts)
