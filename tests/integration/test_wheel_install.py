"""skyqa installed from its wheel (not the checkout), run from folders that are not it.

The wheel is built from this checkout as a user builds one (pip, in build isolation: its
build tools come from the package registry) and installed, without dependencies, into a
fresh virtual environment that sees the test environment's packages (drizzlepac and the rest,
already installed: no registry needed). skyqa itself comes from the wheel, and the test
checks that it does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).parents[2]
pytestmark = pytest.mark.integration


def _run(command: list, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its SHA-256."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """A virtual environment with skyqa installed from a freshly built wheel."""
    root = tmp_path_factory.mktemp("wheel")
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            root / "dist",
            CHECKOUT,
        ],
        cwd=root,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((root / "dist").glob("skyqa-*.whl"))
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=root)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = _run([python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], root)
    assert installed.returncode == 0, installed.stderr[-3000:]
    where = _run([python, "-c", "import skyqa.baseline as b; print(b.packaged_baselines())"], root)
    package = Path(where.stdout.strip())
    assert package.is_relative_to(venv), f"skyqa is not the wheel's: {where.stdout}"
    return python, package.parent


def _pytest(python: Path, cwd: Path, field: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SKYQA_CACHE_DIR": str(cache)}
    env.pop("SKYQA_BASELINE_DIR", None)
    return _run([python, "-m", "pytest", "-p", "no:cacheprovider", "--field", field], cwd, env)


def test_registered_fields_and_a_users_spec_from_a_wheel(wheel_env, shared_cache_dir, tmp_path):
    python, package = wheel_env
    before = _snapshot(package)
    assert {"_baselines/mini-sim/alignment.csv", "_baselines/horsehead-sim/seams.csv"} <= set(
        before
    ), "the registered fields' baselines ship in the wheel"

    empty = tmp_path / "empty"
    empty.mkdir()
    run = _pytest(python, empty, "mini-sim", shared_cache_dir)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "skyqa verdict for mini-sim: PASSED" in run.stdout

    # A user's copy of the spec, renamed, in a folder of their own.
    mine = tmp_path / "my-project"
    mine.mkdir()
    spec = mine / "my-field.toml"
    shutil.copyfile(package / "fields" / "mini-sim.toml", spec)
    first = _pytest(python, empty, str(spec), shared_cache_dir)
    assert first.returncode == 1, first.stdout[-3000:]
    assert "skyqa verdict for mini-sim: INCOMPLETE" in first.stdout
    assert f"{mine}/baselines/mini-sim/alignment.csv has been written from this run" in (
        first.stdout
    )
    written = sorted(path.name for path in (mine / "baselines" / "mini-sim").iterdir())
    assert written == ["alignment.csv", "mdrizsky.csv", "seams.csv"]
    second = _pytest(python, empty, str(spec), shared_cache_dir)
    assert second.returncode == 0, second.stdout[-3000:]
    assert "skyqa verdict for mini-sim: PASSED" in second.stdout

    assert _snapshot(package) == before, "nothing changes inside the installed package"
