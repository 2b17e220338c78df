"""The shape of the library, enforced: where pytest may be imported, and static types."""

from __future__ import annotations

import ast
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


def test_long_modules_and_functions_are_the_documented_exceptions():
    """No module over about 450 lines; each function over 60 is named, with its reason,
    in the development docs' table of exceptions (as ``top.name`` or ``top.sub.name``)."""
    import re

    table = DEVELOPMENT_DOCS.read_text().split("## Exceptions to the size rules", 1)[1]
    named = set(re.findall(r"`([\w.]+)`", table))
    long_modules = [
        path.relative_to(PACKAGE).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if len(path.read_text().splitlines()) > MODULE_LINES
    ]
    assert long_modules == [], f"modules over {MODULE_LINES} lines: {long_modules}"
    undocumented = [
        f"{module} {function} ({lines} lines)"
        for module, function, lines in _long_functions()
        if not any(
            name.endswith(f".{function}")
            and name.split(".")[0] == module.split("/")[0].split(".")[0]
            for name in named
        )
    ]
    assert undocumented == [], (
        f"functions over {FUNCTION_LINES} lines not in docs/development.md's table of "
        f"exceptions: {undocumented}; split them, or name each with its reason there."
    )
