"""The layers of docs/architecture.md hold: import-linter's contract (pyproject.toml)
passes, names every module, and fails on an import upward; the import graph has no
circle."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import skyqa
from skyqa.closure import module_imports

SOURCE = Path(skyqa.__file__).resolve().parent
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _lint_imports(source_parent: Path, config: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the skyqa found in ``source_parent``."""
    environment = {**os.environ, "PYTHONPATH": str(source_parent)}
    command = [Path(sys.executable).with_name("lint-imports"), "--config", config, "--no-cache"]
    return subprocess.run(command, env=environment, capture_output=True, text=True)


def _modules() -> list[str]:
    modules = []
    for path in sorted(SOURCE.rglob("*.py")):
        parts = ["skyqa", *path.relative_to(SOURCE).with_suffix("").parts]
        modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def _layers() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    return contract["layers"]


def test_the_layers_contract_is_kept():
    done = _lint_imports(SOURCE.parent, PYPROJECT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_every_module_is_in_a_layer():
    """A new module is placed in a layer, not left outside the contract."""
    named = {module.strip() for layer in _layers() for module in layer.replace("|", ":").split(":")}
    outside = [
        module
        for module in _modules()
        if module != "skyqa" and not any(module == n or module.startswith(f"{n}.") for n in named)
    ]
    assert outside == [], f"modules in no layer of pyproject.toml's contract: {outside}"


def test_an_import_upward_breaks_the_contract(tmp_path):
    """The contract can fail: the pipeline's old circle (a stage module importing the
    pipeline) put back in a copy of the source."""
    copy = tmp_path / "src" / "skyqa"
    shutil.copytree(SOURCE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / "results.py").open("a") as source:
        source.write("\n\ndef _upward():\n    from skyqa.pipeline import Pipeline  # noqa\n")
    done = _lint_imports(copy.parent, PYPROJECT)
    assert done.returncode == 1, done.stdout
    assert "skyqa.results -> skyqa.pipeline" in done.stdout


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return circles


def test_the_import_graph_has_no_circle():
    """Every import that runs (inside functions too; not under TYPE_CHECKING)."""
    graph = {module: set(module_imports(module, SOURCE)) for module in _modules()}
    assert _circles(graph) == []


def test_a_circle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(graph) == [["a", "b", "c"]]


LAZY_MODULES = {
    "builds.py": "each build imports the stage modules it runs in its own body: a stage's "
    "cache key is the closure of its build's code (skyqa.closure), not of every build's",
    "plugin/__init__.py": "pytest loads the plugin in every session of the environment "
    "(entry point pytest11): what --field needs is imported only with --field",
    "plugin/fixtures.py": "imported with the plugin (above): each fixture imports the "
    "pipeline code it runs",
    "cli.py": "`skyqa --help` and every subcommand start without the pipeline: each "
    "subcommand imports what it runs",
}
"""The modules whose imports of skyqa's own modules sit in functions, and why."""

HEAVY_PACKAGES = (
    # Slow to import, and of no use to a run that finds everything in its cache
    # (tests/plugin/test_plugin.py, HEAVY_MODULES) or to the command line's start:
    "drizzlepac",
    "astropy",
    "scipy",
    "matplotlib",
    "photutils",
    "spherical_geometry",
    "PIL",
    # Only for a real field's download, with a network:
    "astroquery",
    "requests",
    # Optional dependencies: the [dask] extra, pytest's JUnit XML writer.
    "distributed",
    "_pytest",
)
"""The packages any module may import inside a function, and why."""


def function_level_imports() -> list[tuple[str, int, str]]:
    """(module path under skyqa, line, imported module) of every import in a function."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in function.body:
                    for inner in ast.walk(node):
                        if isinstance(inner, ast.Import | ast.ImportFrom):
                            name = getattr(inner, "module", None) or inner.names[0].name
                            relative = path.relative_to(SOURCE).as_posix()
                            found.append((relative, inner.lineno, name))
    return sorted(set(found))


def test_every_import_inside_a_function_has_a_stated_reason():
    """An import is at the top of its module, unless the module is one of LAZY_MODULES
    or the import is of one of HEAVY_PACKAGES (each with its reason above)."""
    unexplained = [
        f"skyqa/{module}:{line} imports {name}"
        for module, line, name in function_level_imports()
        if module not in LAZY_MODULES and name.split(".")[0] not in HEAVY_PACKAGES
    ]
    assert unexplained == [], "imports inside functions without a stated reason: " + str(
        unexplained
    )


def test_the_lazy_modules_import_no_standard_library_inside_functions():
    """Their reason is import cost of skyqa's own modules; the standard library is not."""
    stdlib = [
        (module, line, name)
        for module, line, name in function_level_imports()
        if name.split(".")[0] in sys.stdlib_module_names
    ]
    assert stdlib == []
