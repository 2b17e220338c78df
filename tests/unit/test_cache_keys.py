"""A stage's cache key follows the code it runs (`skyqa.closure`): a change in a module
a stage reaches only through others rebuilds it, and no stage that does not reach it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import skyqa
from skyqa.closure import (
    RememberedDigests,
    closure_of,
    code_digest,
    function_closure,
    module_closure,
)
from skyqa.pipeline.stages import STAGES, mosaic_stage, overlap_part_stage
from skyqa.report.stages import figure_stages
from skyqa.results import SKY_METHODS

SOURCE = Path(skyqa.__file__).resolve().parent
CHANGE = "\n_A_NEW_LINE_OF_CODE = 1\n"

# Every stage's code digest, computed by the code of a copy of skyqa (run from the copy).
DIGESTS = """
import json
from skyqa.pipeline.stages import STAGES, mosaic_stage
digests = {name: stage.code_digest() for name, stage in STAGES.items()}
for method in ("localmin", "match", "globalmin+match", "globalmin"):
    digests[f"mosaic {method}"] = mosaic_stage(method).code_digest()
print(json.dumps(digests))
"""


def _copy(tmp_path: Path) -> Path:
    """A copy of skyqa's source, importable from ``<copy>/src``."""
    target = tmp_path / "src" / "skyqa"
    shutil.copytree(SOURCE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _digests_of(copy: Path) -> dict[str, str]:
    environment = {**os.environ, "PYTHONPATH": str(copy.parent)}
    done = subprocess.run(
        [sys.executable, "-c", DIGESTS], env=environment, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("module", "reached_by", "unrelated"),
    [
        # placement runs names.visit_of through astrometry; nothing lists names.
        ("names.py", {"placement"}, set()),
        # skies runs astrometry.wcs_from_header through pixels.
        (
            "astrometry.py",
            {"skies", "placement", "sources"},
            {"columns", "overlaps", "mosaic match"},
        ),
    ],
)
def test_a_module_reached_indirectly_rebuilds_the_stage(tmp_path, module, reached_by, unrelated):
    """One line of code added to a module that a stage runs only through another module
    changes that stage's key, and not the keys of stages that never run it (a cached
    result made by the old code would otherwise be judged by the new checks)."""
    copy = _copy(tmp_path)
    before = _digests_of(copy)
    with (copy / module).open("a") as source:
        source.write(CHANGE)
    after = _digests_of(copy)
    changed = {stage for stage in before if before[stage] != after[stage]}
    assert reached_by <= changed, f"{module} changed; stages rebuilt: {sorted(changed)}"
    assert not unrelated & changed, f"{module} changed; stages rebuilt: {sorted(changed)}"


def _every_stage() -> list:
    return [
        *STAGES.values(),
        *(mosaic_stage(method) for method in SKY_METHODS),
        overlap_part_stage(0, 2),
        *figure_stages(),
    ]


def test_every_stage_digest_covers_its_closure_and_nothing_else(tmp_path):
    """For every stage and every skyqa module: a change in the module changes the stage's
    code digest exactly when the module is in the stage's closure."""
    copy = _copy(tmp_path)
    stages = _every_stage()
    builds = {stage.name: [f for f in (stage.build, stage.describe) if f] for stage in stages}

    def digests() -> dict[str, str]:
        return {name: code_digest(*functions, root=copy) for name, functions in builds.items()}

    closures = {
        name: {m for f in functions for m in function_closure(f, copy)}
        for name, functions in builds.items()
    }
    before = digests()
    modules = sorted({m for closure in closures.values() for m in closure} | {"skyqa.plugin"})
    for module in modules:
        path = copy.joinpath(*module.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        original = path.read_bytes()
        path.write_bytes(original + CHANGE.encode())
        changed = {name for name, digest in digests().items() if digest != before[name]}
        path.write_bytes(original)
        expected = {name for name, closure in closures.items() if module in closure}
        assert changed == expected, module


def test_the_named_indirect_modules_are_in_the_closures():
    """The modules the issue found missing from the hand-kept lists."""
    placement = function_closure(STAGES["placement"].build)
    skies = function_closure(STAGES["skies"].build)
    figures = {m for stage in figure_stages() for m in function_closure(stage.build)}
    assert "skyqa.names" in placement
    assert "skyqa.astrometry" in skies
    assert {"skyqa.align", "skyqa.simulate", "skyqa.names"} <= figures
    # and a module no build runs is in none
    assert not any("skyqa.plugin" in function_closure(s.build) for s in _every_stage())


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "skyqa"
    for name, text in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_the_walk_follows_runtime_imports_only(tmp_path):
    """Function-level imports are followed, ``TYPE_CHECKING`` ones are not; ``from a
    import b`` names the submodule; a package's ``__init__`` runs with its modules;
    relative imports resolve; the other functions of the builds' module are not read."""
    root = _tree(
        tmp_path,
        {
            "builds.py": """
                from typing import TYPE_CHECKING
                from skyqa import shared
                if TYPE_CHECKING:
                    from skyqa import typed_only
                else:
                    from skyqa import otherwise
                def build_a():
                    from skyqa.pkg import inner
                def build_b():
                    import skyqa.only_b
            """,
            "shared.py": "def f():\n    from . import late\n",
            "late.py": "",
            "typed_only.py": "",
            "otherwise.py": "",
            "only_b.py": "",
            "pkg/__init__.py": "from skyqa import from_init\n",
            "pkg/inner.py": "from .sibling import x\n",
            "pkg/sibling.py": "x = 1\n",
            "from_init.py": "",
        },
    )
    short = {m.removeprefix("skyqa.") for m in closure_of("skyqa.builds", "build_a", root)}
    assert short == {
        "skyqa",
        "builds",
        "shared",
        "late",
        "otherwise",
        "pkg",
        "pkg.inner",
        "pkg.sibling",
        "from_init",
    }
    assert "skyqa.only_b" in closure_of("skyqa.builds", "build_b", root)
    assert "skyqa.typed_only" not in module_closure(["skyqa.builds"], root)


def test_a_function_the_walk_cannot_find_is_an_error(tmp_path):
    root = _tree(tmp_path, {"builds.py": "def build():\n    pass\n"})
    with pytest.raises(ValueError, match="no function 'missing'"):
        closure_of("skyqa.builds", "missing", root)


def _users_build(field, fault, workdir):
    from skyqa import names  # noqa: F401

    return {}


def test_a_stage_of_the_users_own_is_keyed_by_its_module_and_its_imports():
    """A build outside skyqa: its imports of skyqa are followed, its module hashed."""
    assert "skyqa.names" in function_closure(_users_build)
    assert code_digest(_users_build) != code_digest(STAGES["columns"].build)


def test_remembered_digests_are_the_digests_and_are_forgotten_when_the_source_changes(
    tmp_path, monkeypatch
):
    """A warm run reads the stages' digests from the cache's file instead of parsing the
    closures, while skyqa's source is unchanged byte for byte; a change in any module,
    or a file that cannot be read, and they are computed again."""
    from skyqa import closure

    copy = _copy(tmp_path)
    build = STAGES["placement"].build
    memo_file = tmp_path / "cache" / "code-digests.json"
    first = closure.RememberedDigests(memo_file, root=copy)
    assert first.digest(build) == code_digest(build, root=copy)
    assert first.modules("skyqa.field") == closure.module_digest("skyqa.field", root=copy)
    assert not memo_file.exists()  # saved by the pipeline once it has cached something
    first.save()

    def no_parsing(*args, **kwargs):
        raise AssertionError("computed again")

    with monkeypatch.context() as patched:
        patched.setattr(closure, "code_digest", no_parsing)
        patched.setattr(closure, "module_digest", no_parsing)
        again = closure.RememberedDigests(memo_file, root=copy)
        assert again.digest(build) == first.digest(build)
        assert again.modules("skyqa.field") == first.modules("skyqa.field")
    with (copy / "names.py").open("a") as source:
        source.write(CHANGE)
    changed = closure.RememberedDigests(memo_file, root=copy)
    assert changed.digest(build) == code_digest(build, root=copy) != first.digest(build)
    changed.save()
    memo_file.write_text("{not json")
    assert closure.RememberedDigests(memo_file, root=copy).digest(build) == changed.digest(build)


def test_a_users_own_stage_is_digested_each_time(tmp_path):
    memo = RememberedDigests(tmp_path / "code-digests.json")
    assert memo.digest(_users_build) == code_digest(_users_build)
    memo.save()
    assert not (tmp_path / "code-digests.json").exists()
