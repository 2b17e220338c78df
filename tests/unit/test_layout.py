"""The shape of the library, enforced: where pytest may be imported, and static types."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "src" / "skyqa"
PYTEST_ALLOWED = ("plugin", "checks/qa")
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
        "code in skyqa.plugin (or a QA module in skyqa.checks.qa)."
    )


def test_the_library_passes_mypy():
    from mypy import api  # in the test extras: CI installs it

    config = PACKAGE.parents[1] / "pyproject.toml"
    stdout, stderr, status = api.run(["--config-file", str(config), str(PACKAGE)])
    assert status == 0, stdout + stderr
