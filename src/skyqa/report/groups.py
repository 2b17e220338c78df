"""The figures in groups, each drawn and cached from the results it shows (in worker
processes), and the groups a report page embeds."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from skyqa.align import match_file as align_match_file
from skyqa.cache import CacheEntry
from skyqa.drizzle import mdrizsky_by_method
from skyqa.names import visit_of
from skyqa.report.drawing import (
    exposure_footprints,
    figure_alignment,
    figure_difference,
    figure_mdrizsky,
    figure_mosaics,
    figure_seams,
)
from skyqa.report.drawing_planes import chip_corners, figure_planes
from skyqa.results import ALIGNMENT, EXPOSURES, MOSAICS, SEAMS
from skyqa.simulate import load_truth
from skyqa.workers import worker_pool


def _draw(task: tuple) -> tuple[Path | None, str | None]:
    """Draw one figure: (its path or None, a problem or None); never raises."""
    name, make, args = task
    try:
        return make(*args), None
    except Exception as error:  # a figure must never sink the report
        return None, f"figure {name} could not be made: {type(error).__name__}: {error}"


def _draw_all(tasks: list[tuple], workers: int) -> list[tuple[Path | None, str | None]]:
    """`_draw` every task, in ``workers`` processes when there are several; in order."""
    if workers < 2 or len(tasks) < 2:
        return [_draw(task) for task in tasks]

    try:
        with worker_pool(min(workers, len(tasks))) as pool:
            return list(pool.map(_draw, tasks))
    except BrokenProcessPool:  # a worker died (memory?): draw them here instead
        return [_draw(task) for task in tasks]


FIGURE_GROUPS = {
    "mosaics": (MOSAICS, EXPOSURES),
    "alignment": (ALIGNMENT,),
    "seams": (MOSAICS, SEAMS, ALIGNMENT),
}
"""The figures are drawn and cached in groups, each from the results it names (keys of
`skyqa.pipeline.computed.Computed`), in this order on the report page. A group whose
results a session did not compute is left out."""


class FigureError(Exception):
    """Some figures of a group could not be drawn (``problems``: one sentence each)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def figure_tasks(group: str, results: dict, directory: Path) -> list[tuple]:
    """The figures of ``group`` as ``(name, function, arguments)``, drawn into ``directory``.

    ``results`` holds what `FIGURE_GROUPS` names for the group, by name.
    """

    mosaics = results.get(MOSAICS, {})
    if group == "mosaics":
        truth_path = getattr(results.get(EXPOSURES), "truth_path", None)
        truth = None
        if truth_path is not None:
            truth = load_truth(truth_path).pedestals_e_s
        return [
            (
                "mdrizsky",
                figure_mdrizsky,
                (mdrizsky_by_method(mosaics), directory / "mdrizsky.png", truth),
            ),
            ("mosaics", figure_mosaics, (mosaics, directory / "mosaics.png")),
            ("difference", figure_difference, (mosaics, directory / "difference.png")),
        ]
    if group == "alignment":
        alignment = results[ALIGNMENT]
        tasks = []
        for drz in alignment.visit_drz_paths:
            visit = visit_of(drz)
            match_file = align_match_file(alignment.directory, drz)
            tasks.append(
                (
                    f"alignment {visit}",
                    figure_alignment,
                    (drz, match_file, directory / f"alignment_{visit}.png"),
                )
            )
        return tasks
    if group == "seams":
        seams = results[SEAMS]
        footprints = exposure_footprints(results[ALIGNMENT].aligned_flt_paths)
        corners = chip_corners(results[ALIGNMENT].aligned_flt_paths)
        return [
            ("seams", figure_seams, (seams, list(mosaics), footprints, directory / "seams.png")),
            ("planes", figure_planes, (seams, corners, directory / "planes.png")),
        ]
    raise ValueError(f"unknown figure group {group!r}; known: {', '.join(FIGURE_GROUPS)}")


def available_groups(results: dict) -> list[str]:
    """The figure groups whose results are all in ``results``, in page order."""

    def present(name: str) -> bool:
        value = results.get(name)
        return bool(value) if isinstance(value, dict) else value is not None

    return [group for group, needs in FIGURE_GROUPS.items() if all(map(present, needs))]


def draw_group_leniently(
    group: str, results: dict, directory: Path, workers: int
) -> tuple[list[Path], list[str]]:
    """Draw what can be drawn of one group's figures into ``directory``: the paths of
    those drawn, and a sentence for each that could not be."""
    directory.mkdir(parents=True, exist_ok=True)
    drawn = _draw_all(figure_tasks(group, results, directory), workers)
    return (
        [path for path, _ in drawn if path is not None],
        [problem for _, problem in drawn if problem is not None],
    )


def draw_group(group: str, results: dict, directory: Path, workers: int = 1) -> list[Path]:
    """Draw one group's figures into ``directory``; the paths of those drawn.

    Raises
    ------
    FigureError
        If any figure could not be drawn (the others are drawn all the same).
    """
    made, problems = draw_group_leniently(group, results, directory, workers)
    if problems:
        raise FigureError(problems)
    return made


def build_figures(field, fault, results: dict, workdir: Path, *, group: str, workers: int) -> dict:
    """The build of a figure group's stage (`skyqa.report.stages`): its figures drawn in
    ``workdir``; raises `FigureError` if one could not be (nothing is cached)."""
    drawn = draw_group(group, results, workdir, workers)
    return {"figures": [path.name for path in drawn]}


def load_figures(entry: CacheEntry) -> list[Path]:
    """The figures of a figure group's cache entry."""
    return [entry.directory / name for name in entry.record["figures"]]
