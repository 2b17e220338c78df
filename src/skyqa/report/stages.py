"""The report's figures as pipeline stages: one stage a group (`FIGURE_GROUPS`), cached
like any result, built beside the results it shows (`skyqa.pipeline.Pipeline.also`).

The pipeline knows no figure: the report owns these stages and hands them over. Not
imported by the `skyqa.report` package, so that drawing a figure (`build_figures`) runs
no pipeline code, and a figure stage's cache key holds only the report's code and what it
shows (`skyqa.closure`).
"""

from __future__ import annotations

import functools
import shutil
from importlib.metadata import version
from pathlib import Path

from skyqa.pipeline import Pipeline
from skyqa.pipeline.stages import Stage
from skyqa.report.groups import (
    FIGURE_GROUPS,
    FigureError,
    available_groups,
    build_figures,
    draw_group_leniently,
    load_figures,
)
from skyqa.results import FIGURES, MOSAICS, OVERLAPS, SEAMS, mosaic_stage_name


def figures_stage_name(group: str) -> str:
    """The stage (and cache folder) name of one group of the report's figures."""
    return f"{FIGURES}-{group}"


def figure_inputs(group: str, skymethods: tuple[str, ...]) -> tuple[str, ...]:
    """The stages whose results a figure group shows (the seams: the overlaps and the
    mosaics they are derived from)."""
    mosaics = [mosaic_stage_name(method) for method in skymethods]
    stages: list[str] = []
    for name in FIGURE_GROUPS[group]:
        stages += {MOSAICS: mosaics, SEAMS: [OVERLAPS, *mosaics]}.get(name, [name])
    return tuple(dict.fromkeys(stages))


def shown(pipeline: Pipeline, group: str) -> dict:
    """The results a figure group shows, by the names `FIGURE_GROUPS` gives them.

    Raises
    ------
    ValueError
        If the pipeline has not built them yet.
    """
    missing = [
        stage
        for stage in figure_inputs(group, pipeline.field.astrodrizzle.skymethods)
        if not pipeline.has_built(stage)
    ]
    if missing:
        raise ValueError(
            f"The {group} figures of {pipeline.field.name} show {', '.join(missing)}, "
            "which this pipeline has not built yet."
        )
    results = pipeline.computed()
    return {name: results.of(name) for name in FIGURE_GROUPS[group]}


def figures_stage(group: str, workers: int) -> Stage:
    """The stage drawing one group of the report's figures from the results it shows,
    in ``workers`` processes."""
    return Stage(
        figures_stage_name(group),
        f"drawing the {group} figures",
        build=functools.partial(build_figures, group=group, workers=workers),
        load=load_figures,
        inputs=lambda run: (shown(run, group),),
        needs=lambda run: figure_inputs(group, run.field.astrodrizzle.skymethods),
        spec=lambda field: {"matplotlib": version("matplotlib")},
        cost={"mosaics": 1.5, "alignment": 1.2}.get(group, 0.7),
    )


def figure_stages() -> list[Stage]:
    """Every figure group's stage, each drawn in one process (for `Pipeline.also`: the
    batch's worker processes draw several groups at once)."""
    return [figures_stage(group, 1) for group in FIGURE_GROUPS]


def figures(pipeline: Pipeline, group: str) -> list[Path]:
    """The report's figures of one group, from the pipeline's cache, else drawn now (in
    the pipeline's ``workers`` processes).

    Raises
    ------
    ValueError
        If the results the group shows have not been built by this pipeline.
    FigureError
        If a figure could not be drawn (nothing of the group is cached).
    """
    return pipeline.result_of(figures_stage(group, pipeline.workers))


def cached_figures(pipeline: Pipeline, figures_dir: Path) -> tuple[list[Path], list[str]]:
    """Every figure the pipeline's results allow, copied from the pipeline's cache where
    it has them (`figures`), drawn now where it has not; problems are returned.

    A group with a problem is not cached (the next run tries again): it is drawn here,
    and what could be drawn of it is shown.
    """
    figures_dir.mkdir(parents=True, exist_ok=True)
    results = pipeline.computed().built()
    made, problems = [], []
    for group in available_groups(results):
        try:
            cached = figures(pipeline, group)
        except FigureError:
            group_made, group_problems = draw_group_leniently(
                group, results, figures_dir, pipeline.workers
            )
            made += group_made
            problems += group_problems
            continue
        made += [Path(shutil.copy2(path, figures_dir / path.name)) for path in cached]
    return made, problems
