"""The shape of the library, enforced: where pytest may be imported, and static types."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "src" / "skyqa"
PYTEST_ALLOWED = ("plugin", "qa")
"""The pytest plugin, and the QA modules pytest collects for --field."""


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_plugin_and_the_collected_qa_modules_import_pytest():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(PYTEST_ALLOWED):
            continue
        if {"pytest", "_pytest"} & _imported_modules(path):
            offenders.append(relative)
    assert offenders == [], (
        f"{offenders} import pytest: the library stays usable without it; put pytest-facing "
        "code in skyqa.plugin (or a QA module in skyqa.qa)."
    )


def test_the_library_passes_mypy():
    from mypy import api  # in the test extras: CI installs it

    config = PACKAGE.parents[1] / "pyproject.toml"
    stdout, stderr, status = api.run(["--config-file", str(config), str(PACKAGE)])
    assert status == 0, stdout + stderr


MODULE_LINES = 460
FUNCTION_LINES = 60
DEVELOPMENT_DOCS = PACKAGE.parents[1] / "docs" / "development.md"


def _long_functions() -> list[tuple[str, str, int]]:
    """(module path, function name, lines) of every function over `FUNCTION_LINES`."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > FUNCTION_LINES:
                    found.append((path.relative_to(PACKAGE).as_posix(), node.name, lines))
    return found


UPDATE_ENV = "SKYQA_UPDATE_DOCS"
"""Set to 1 to let the size test write the exceptions table's line counts."""


def _lines_of(name: str, long_functions: list[tuple[str, str, int]]) -> list[int]:
    """The line counts of the long functions a table name (``top.name``,
    ``top.sub.name``) stands for: same top-level module or package, same function."""
    top, function = name.split(".")[0], name.rsplit(".", 1)[1]
    return [
        lines
        for module, found, lines in long_functions
        if found == function and module.split("/")[0].removesuffix(".py") == top
    ]


def exceptions_table(text: str, long_functions: list[tuple[str, str, int]]) -> tuple[str, list]:
    """``text`` (docs/development.md) with each exception row's line counts as they are
    now, and the names in the table that stand for no long function (stale)."""
    stale: list[str] = []

    def row(match: re.Match) -> str:
        names = re.findall(r"`([\w.]+)`", match.group(1))
        counts = []
        for name in names:
            found = _lines_of(name, long_functions)
            stale.extend([] if found else [name])
            counts += [str(n) for n in found]
        return f"| {match.group(1)} | {', '.join(counts)} | {match.group(3)} |"

    table = re.compile(r"^\| ((?:`[\w.]+`(?:, )?)+) \| ([\d, -]*) \| (.*) \|$", re.M)
    return table.sub(row, text), stale


def test_long_modules_and_functions_are_the_documented_exceptions():
    """No module over about 450 lines; each function over 60 is named, with its reason,
    in the development docs' table of exceptions (as ``top.name`` or ``top.sub.name``),
    whose line counts are this test's (SKYQA_UPDATE_DOCS=1 writes them)."""
    text = DEVELOPMENT_DOCS.read_text()
    table = text.split("## Exceptions to the size rules", 1)[1]
    named = set(re.findall(r"`([\w.]+)`", table))
    long_modules = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if len(path.read_text().splitlines()) > MODULE_LINES
    ]
    assert long_modules == [], f"modules over {MODULE_LINES} lines: {long_modules}"
    long_functions = _long_functions()
    undocumented = [
        f"{module} {function} ({lines} lines)"
        for module, function, lines in long_functions
        if not any(lines in _lines_of(name, [(module, function, lines)]) for name in named)
    ]
    assert undocumented == [], (
        f"functions over {FUNCTION_LINES} lines not in docs/development.md's table of "
        f"exceptions: {undocumented}; split them, or name each with its reason there."
    )
    counted, stale = exceptions_table(text, long_functions)
    assert stale == [], f"docs/development.md names exceptions no longer long: {stale}"
    if counted != text and os.environ.get(UPDATE_ENV) == "1":
        DEVELOPMENT_DOCS.write_text(counted)
    assert counted == text, (
        "docs/development.md's exceptions table has stale line counts; rerun this test "
        f"with {UPDATE_ENV}=1 to write them, and review the diff"
    )


def test_the_exceptions_table_is_counted_and_its_stale_names_found():
    long_functions = [("align.py", "align_visits", 81), ("report/drawing.py", "figure_seams", 65)]
    text = (
        "| `align.align_visits`, `report.drawing.figure_seams` | 70 | why |\n| `x.gone` | 3 | y |"
    )
    counted, stale = exceptions_table(text, long_functions)
    assert (
        counted.splitlines()[0]
        == "| `align.align_visits`, `report.drawing.figure_seams` | 81, 65 | why |"
    )
    assert stale == ["x.gone"]
