"""skyqa's pytest plugin: options and fixtures only; the work lives in the library.

Registered through the ``pytest11`` entry point, so ``--field`` exists wherever skyqa is
installed. ``pytest --field NAME`` with no test paths runs the checks shipped in
`skyqa.checks` on that field.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from skyqa.plugin.fixtures import (  # noqa: F401  (pytest finds fixtures here)
    aligned_flts,
    alignment,
    alignment_placement,
    alignment_residuals,
    baseline_dir,
    column_outliers,
    delivered_wcs_table,
    header_table,
    mdrizsky_table,
    mosaic,
    mosaic_skies,
    mosaics,
    overlap_pairs,
    product_measures,
    raw_exposures,
    reference_catalog,
    seam_table,
    skymethod,
    skyqa_cluster,
    skyqa_field,
    skyqa_pipeline,
    skyqa_pipelines,
    source_offsets,
    truth,
    visit,
)
from skyqa.plugin.keys import (
    CHECKS_DIR,
    FIELDS_KEY,
    LEDGER_NAME,
    SETTINGS_KEY,
    WANTED_KEY,
)

MATCHING_MARKER = "skyqa_matching"
"""Marks a QA check of the sky methods that match skies (`skyqa.results.SkyMethod`)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skyqa", "skyqa: QA of drizzled HST mosaics")
    group.addoption(
        "--field",
        action="append",
        default=[],
        dest="skyqa_fields",
        metavar="NAME|SPEC.toml|FOLDER",
        help="Run skyqa's checks on this field: a registered name (`skyqa fields` lists "
        "them), the path of a field spec file, or a folder of them (every *.toml). May be "
        "given more than once: the fields are built together, with a combined report. "
        "With no test paths, runs the checks shipped with skyqa.",
    )
    group.addoption(
        "--skyqa-cache-dir",
        default=None,
        metavar="DIR",
        help="Directory where pipeline results are cached and reused when nothing they "
        "depend on changed (default: $SKYQA_CACHE_DIR, else ~/.cache/skyqa). Files there "
        "are created and replaced by skyqa; input data elsewhere is never written.",
    )
    group.addoption(
        "--skyqa-allow-astrometry-db",
        action="store_true",
        default=False,
        help="Let stwcs query the MAST astrometry database (needs the network). By "
        "default skyqa sets ASTROMETRY_STEP_CONTROL=OFF.",
    )
    group.addoption(
        "--skyqa-baseline-dir",
        default=None,
        metavar="DIR",
        help="Directory of stored baselines, one folder per field (default: "
        "$SKYQA_BASELINE_DIR, else: a registered field's baselines shipped with skyqa, a "
        "spec file's <spec folder>/baselines/). A missing baseline is written there from the "
        "run (the field's verdict is then incomplete); --force-regen rewrites them. Never "
        "written inside the installed package.",
    )
    group.addoption(
        "--skyqa-report-dir",
        default=None,
        metavar="DIR",
        help="Directory for the run's report: <DIR>/<field>/summary.json (default: "
        "skyqa-report under the current directory). Files there are replaced.",
    )
    group.addoption(
        "--skyqa-env-name",
        default=None,
        metavar="LABEL",
        help="Name of this environment in the summary (default: $TOX_ENV_NAME, else 'local').",
    )
    group.addoption(
        "--skyqa-inject-fault",
        default=None,
        metavar="FAULT",
        help="Self-test of the harness, never for acceptance: inject this known fault "
        "(`skyqa faults` lists them) into the copy of the stage it damages, in cache "
        "entries of its own; the checks it names must then fail. Input data are not touched.",
    )
    group.addoption(
        "--skyqa-workers",
        default=None,
        type=int,
        metavar="N",
        help="Processes that build independent pipeline stages at once (the four mosaics "
        "and the overlap measurement), each in its own cache folder (default: "
        "$SKYQA_WORKERS, else the CPUs available; 1: everything in the pytest process).",
    )
    group.addoption(
        "--skyqa-scheduler",
        default=None,
        metavar="ADDRESS",
        help="Build the pipeline stages on a Dask cluster: the address of its scheduler "
        "(tcp://host:8786; default $SKYQA_SCHEDULER, else the local process pool). Needs "
        "skyqa[dask] and a cache every worker sees at the same path.",
    )
    parser.addini("skyqa_cache_dir", "Default for --skyqa-cache-dir.", default=None)
    parser.addini("skyqa_baseline_dir", "Default for --skyqa-baseline-dir.", default=None)
    parser.addini("skyqa_workers", "Default for --skyqa-workers.", default=None)
    parser.addini("skyqa_scheduler", "Default for --skyqa-scheduler.", default=None)


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """``pytest --field NAME`` with no paths collects the packaged checks."""
    namespace = early_config.known_args_namespace
    if getattr(namespace, "skyqa_fields", None) and not namespace.file_or_dir:
        args.append(str(CHECKS_DIR))
        from skyqa.settings import in_installed_package

        if in_installed_package(CHECKS_DIR):
            # pytest would cache its rewritten check modules in the package's __pycache__:
            # skyqa never writes inside the installed package.

            sys.dont_write_bytecode = True


def pytest_configure(config: pytest.Config) -> None:
    from skyqa.errors import FieldSpecError
    from skyqa.field import resolve_fields
    from skyqa.settings import (
        Settings,
        resolve_baseline_dir,
        resolve_cache_dir,
        resolve_scheduler,
        resolve_workers,
    )

    config.addinivalue_line(
        "markers",
        f"{MATCHING_MARKER}: a QA check run once per sky method of the field that matches skies",
    )
    try:
        workers = resolve_workers(config.getoption("skyqa_workers"), config.getini("skyqa_workers"))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None

    settings = Settings(
        fields=tuple(config.getoption("skyqa_fields")),
        cache_dir=resolve_cache_dir(
            config.getoption("skyqa_cache_dir"), config.getini("skyqa_cache_dir")
        ),
        baseline_dir=resolve_baseline_dir(
            config.getoption("skyqa_baseline_dir"), config.getini("skyqa_baseline_dir")
        ),
        allow_astrometry_db=config.getoption("skyqa_allow_astrometry_db"),
        fault=config.getoption("skyqa_inject_fault"),
        workers=workers,
        scheduler=resolve_scheduler(
            config.getoption("skyqa_scheduler"), config.getini("skyqa_scheduler")
        ),
    )
    fields = {}
    if settings.fault is not None:
        from skyqa.faults import get_fault

        try:
            get_fault(settings.fault)
        except FieldSpecError as error:
            raise pytest.UsageError(str(error)) from None
    try:
        fields = {spec.name: spec for spec in resolve_fields(settings.fields)}
    except FieldSpecError as error:
        raise pytest.UsageError(str(error)) from None
    if config.getoption("force_regen", False):
        from skyqa.baseline import baseline_folder
        from skyqa.settings import in_installed_package

        for spec in fields.values():
            folder = baseline_folder(spec, settings.baseline_dir)
            if in_installed_package(folder):
                raise pytest.UsageError(
                    f"--force-regen would rewrite {folder}, inside the installed skyqa "
                    "package, which skyqa never writes: pass --skyqa-baseline-dir DIR to "
                    "write the new baselines there."
                )
    config.stash[SETTINGS_KEY] = settings
    config.stash[FIELDS_KEY] = fields
    if fields:
        from skyqa.plugin.ledger import CheckLedger

        ledger = CheckLedger(
            CHECKS_DIR,
            list(fields),
            Path(config.getoption("skyqa_report_dir") or "skyqa-report"),
            config.getoption("skyqa_env_name") or os.environ.get("TOX_ENV_NAME") or "local",
            injected_fault=settings.fault,
        )
        config.pluginmanager.register(ledger, LEDGER_NAME)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Tell the pipelines which batch results the selected tests need: with ``-k`` or a
    test id, only those are built (four mosaics are not drizzled for a tweakback check)."""
    if not session.config.stash.get(FIELDS_KEY, {}):
        return
    from skyqa.pipeline.stages import batch_fixtures

    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    session.config.stash[WANTED_KEY] = {
        result for fixture, result in batch_fixtures().items() if fixture in needed
    }


def _field_methods(fields: dict, matching: bool) -> list[tuple]:
    """(field spec, sky method) for each method a field drizzles, in its spec's order;
    only those that match skies if ``matching``."""
    from skyqa.results import SKY_METHODS

    return [
        (spec, method)
        for spec in fields.values()
        for method in spec.astrodrizzle.skymethods
        if SKY_METHODS[method].matches or not matching
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fields = metafunc.config.stash.get(FIELDS_KEY, {})
    explicit = {
        name
        for marker in metafunc.definition.iter_markers("parametrize")
        for name in ([marker.args[0]] if isinstance(marker.args[0], str) else marker.args[0])
    }
    by_method = "skymethod" in metafunc.fixturenames and "skymethod" not in explicit
    if "visit" in metafunc.fixturenames and fields:
        # One test per visit where the spec knows its visits ("all" where it does not).
        pairs = [(spec, visit) for spec in fields.values() for visit in spec.visit_ids() or ["all"]]
        metafunc.parametrize(
            ("skyqa_field", "visit"),
            pairs,
            indirect=["skyqa_field"],
            scope="session",
            ids=[f"{spec.name}-{visit}" for spec, visit in pairs],
        )
    elif by_method and fields:
        # One test per sky method each field drizzles: from the field's own list.
        matching = metafunc.definition.get_closest_marker(MATCHING_MARKER) is not None
        methods = _field_methods(fields, matching)
        metafunc.parametrize(
            ("skyqa_field", "skymethod"),
            methods,
            indirect=True,
            ids=[f"{spec.name}-{method}" for spec, method in methods],
        )
        return
    elif "skyqa_field" in metafunc.fixturenames and fields:
        metafunc.parametrize(
            "skyqa_field", list(fields.values()), indirect=True, scope="session", ids=list(fields)
        )
    if by_method:
        from skyqa.field import SKY_METHODS

        metafunc.parametrize("skymethod", SKY_METHODS, indirect=True)


def run_pytest(arguments: list[str]) -> int:
    """Run pytest with ``arguments`` in this process (``skyqa run``); its exit code."""
    return int(pytest.main(arguments))
