"""skyqa's pytest plugin: options and fixtures only; the work lives in the library.

Registered through the ``pytest11`` entry point, so ``--field`` exists wherever skyqa is
installed. ``pytest --field NAME`` with no test paths runs the checks shipped in
`skyqa.checks` on that field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SETTINGS_KEY = pytest.StashKey["object"]()
FIELDS_KEY = pytest.StashKey[dict]()
WANTED_KEY = pytest.StashKey[set]()
FIXTURE_RESULTS = {
    "mosaics": "mosaics",
    "overlap_pairs": "overlaps",
    "alignment_residuals": "residuals",
    "alignment_placement": "placement",
    "column_outliers": "columns",
    "mosaic_skies": "skies",
    "source_offsets": "sources",
}
"""Fixtures that return a result of the pipeline's batch (`Pipeline.wanted`)."""
CHECKS_DIR = Path(__file__).parent / "checks"
LEDGER_NAME = "skyqa-ledger"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("skyqa", "skyqa: QA of drizzled HST mosaics")
    group.addoption(
        "--field",
        action="append",
        default=[],
        dest="skyqa_fields",
        metavar="NAME|SPEC.toml",
        help="Run skyqa's checks on this field: a registered name (`skyqa fields` lists "
        "them) or the path of a field spec file. May be given more than once. With no "
        "test paths, runs the checks shipped with skyqa.",
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
    parser.addini("skyqa_cache_dir", "Default for --skyqa-cache-dir.", default=None)
    parser.addini("skyqa_baseline_dir", "Default for --skyqa-baseline-dir.", default=None)
    parser.addini("skyqa_workers", "Default for --skyqa-workers.", default=None)


def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """``pytest --field NAME`` with no paths collects the packaged checks."""
    namespace = early_config.known_args_namespace
    if getattr(namespace, "skyqa_fields", None) and not namespace.file_or_dir:
        args.append(str(CHECKS_DIR))
        from skyqa.settings import in_installed_package

        if in_installed_package(CHECKS_DIR):
            # pytest would cache its rewritten check modules in the package's __pycache__:
            # skyqa never writes inside the installed package.
            import sys

            sys.dont_write_bytecode = True


def pytest_configure(config: pytest.Config) -> None:
    from skyqa.errors import FieldSpecError
    from skyqa.field import resolve_field
    from skyqa.settings import Settings, resolve_baseline_dir, resolve_cache_dir, resolve_workers

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
    )
    fields = {}
    if settings.fault is not None:
        from skyqa.faults import get_fault

        try:
            get_fault(settings.fault)
        except FieldSpecError as error:
            raise pytest.UsageError(str(error)) from None
    for name in settings.fields:
        try:
            spec = resolve_field(name)
        except FieldSpecError as error:
            raise pytest.UsageError(str(error)) from None
        fields[spec.name] = spec
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
        import os

        from skyqa.ledger import CheckLedger

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
    needed = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    session.config.stash[WANTED_KEY] = {
        result for fixture, result in FIXTURE_RESULTS.items() if fixture in needed
    }


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fields = metafunc.config.stash.get(FIELDS_KEY, {})
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
    elif "skyqa_field" in metafunc.fixturenames and fields:
        metafunc.parametrize(
            "skyqa_field", list(fields.values()), indirect=True, scope="session", ids=list(fields)
        )
    explicit = {
        name
        for marker in metafunc.definition.iter_markers("parametrize")
        for name in ([marker.args[0]] if isinstance(marker.args[0], str) else marker.args[0])
    }
    if "skymethod" in metafunc.fixturenames and "skymethod" not in explicit:
        from skyqa.field import SKY_METHODS

        metafunc.parametrize("skymethod", SKY_METHODS, indirect=True)


def _progress(config: pytest.Config):
    """A progress printer that shows through pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"skyqa: {message}")

    return write


@pytest.fixture(scope="session")
def skyqa_field(request: pytest.FixtureRequest):
    """The field under test (a `skyqa.field.FieldSpec`), one per ``--field``.

    Example::

        def test_name(skyqa_field):
            assert skyqa_field.kind in ("synthetic", "mast")
    """
    if not hasattr(request, "param"):
        pytest.fail("skyqa checks need a field: pass --field NAME (see `skyqa fields`).")
    return request.param


@pytest.fixture(scope="session")
def skyqa_pipeline(skyqa_field, request: pytest.FixtureRequest):
    """The field's `skyqa.pipeline.Pipeline`; every stage runs once per session.

    Example::

        def test_timings(skyqa_pipeline):
            skyqa_pipeline.mosaics()
            assert "alignment" in skyqa_pipeline.timings
    """
    from skyqa.faults import get_fault
    from skyqa.pipeline import Pipeline

    settings = request.config.stash[SETTINGS_KEY]
    pipeline = Pipeline(
        skyqa_field,
        settings.cache_dir,
        progress=_progress(request.config),
        allow_astrometry_db=settings.allow_astrometry_db,
        fault=get_fault(settings.fault) if settings.fault else None,
        workers=settings.workers,
    )
    pipeline.wanted = request.config.stash.get(WANTED_KEY, None)
    ledger = request.config.pluginmanager.get_plugin(LEDGER_NAME)
    if ledger is not None:
        ledger.register_pipeline(skyqa_field.name, pipeline)
    yield pipeline
    pipeline.close()


def _run_stage(config: pytest.Config, pipeline, stage: str, *args):
    """Run a pipeline stage; a skyqa error fails the test with its sentence, no traceback.

    Without exposures no check can run: a failure to acquire or make them ends the
    session with one message instead of one error per check.
    """
    from skyqa.errors import AcquisitionError, SkyQAError
    from skyqa.offline import block_network

    try:
        if pipeline.field.kind == "synthetic":
            with block_network():
                return getattr(pipeline, stage)(*args)
        return getattr(pipeline, stage)(*args)
    except SkyQAError as error:
        if isinstance(error, AcquisitionError) or stage == "exposures":
            ledger = config.pluginmanager.get_plugin(LEDGER_NAME)
            if ledger is not None:
                ledger.stage_error(pipeline.field.name, str(error))
            pytest.exit(
                f"skyqa cannot check field {pipeline.field.name}: {error}",
                returncode=pytest.ExitCode.TESTS_FAILED,
            )
        pytest.fail(f"{type(error).__name__}: {error}", pytrace=False)


@pytest.fixture(scope="session")
def raw_exposures(skyqa_pipeline, request: pytest.FixtureRequest):
    """The field's exposures (`skyqa.acquire.ExposureSet`): never modified.

    Example::

        def test_count(raw_exposures):
            assert len(raw_exposures.flt_paths) == 18
    """
    return _run_stage(request.config, skyqa_pipeline, "exposures")


@pytest.fixture(scope="session")
def column_outliers(skyqa_pipeline, raw_exposures, request: pytest.FixtureRequest):
    """Each exposure's most deviant detector column (`skyqa.measure.column_outliers`).

    Example::

        def test_columns(column_outliers):
            assert (column_outliers["score"] < 10).all()
    """
    return _run_stage(request.config, skyqa_pipeline, "column_outliers")


@pytest.fixture(scope="session")
def reference_catalog(skyqa_pipeline, raw_exposures, request: pytest.FixtureRequest):
    """The reference catalog TweakReg aligns to (`skyqa.catalog.ReferenceCatalog`).

    Example::

        def test_catalog(reference_catalog):
            assert len(reference_catalog.table) > 3
    """
    return _run_stage(request.config, skyqa_pipeline, "reference_catalog")


@pytest.fixture(scope="session")
def alignment(skyqa_pipeline, reference_catalog, request: pytest.FixtureRequest):
    """TweakReg + tweakback results (`skyqa.align.AlignmentResult`).

    Example::

        def test_shifts(alignment):
            assert not alignment.shift_table.empty
    """
    return _run_stage(request.config, skyqa_pipeline, "alignment")


@pytest.fixture(scope="session")
def alignment_residuals(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """What a new TweakReg fit finds left on the updated visit DRZs: the verification
    pass's shift file as a table (`skyqa.align.parse_shift_file`; ideally all zero).

    Example::

        def test_nothing_left(alignment_residuals):
            assert (alignment_residuals["xsh_pix"].abs() < 0.1).all()
    """
    return _run_stage(request.config, skyqa_pipeline, "residuals")


@pytest.fixture(scope="session")
def alignment_placement(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """The aligned WCSs measured on the sky (`skyqa.astrometry.AlignmentPlacement`):
    how far tweakback moved each FLT against its visit DRZ's correction, and on synthetic
    fields each FLT's offset from its true WCS (mas).

    Example::

        def test_moved(alignment_placement):
            assert (alignment_placement.tweakback["moved_mas"] > 0).all()
    """
    return _run_stage(request.config, skyqa_pipeline, "placement")


@pytest.fixture(scope="session")
def aligned_flts(alignment):
    """Paths of the aligned FLTs (copies in the alignment's directory).

    Example::

        def test_aligned(aligned_flts):
            assert all(path.exists() for path in aligned_flts)
    """
    return alignment.aligned_flt_paths


@pytest.fixture(scope="session")
def mosaics(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """Sky method -> `skyqa.drizzle.Mosaic`, for every sky method of the field.

    Example::

        def test_methods(mosaics):
            assert set(mosaics) == {"localmin", "match", "globalmin+match", "globalmin"}
    """
    return _run_stage(request.config, skyqa_pipeline, "mosaics")


@pytest.fixture(scope="session")
def visit(request: pytest.FixtureRequest) -> str:
    """One visit id (lower-case ASN_ID), or "all" where the field's visits are not known
    before its data is read; tests using it run once per visit.

    Example::

        def test_visit(visit, alignment):
            assert visit == "all" or any(visit in p.name for p in alignment.visit_drz_paths)
    """
    return request.param


@pytest.fixture
def skymethod(request: pytest.FixtureRequest):
    """One sky method; tests using it run once per method (or as parametrized).

    Example::

        def test_method(skymethod):
            assert skymethod in ("localmin", "match", "globalmin+match", "globalmin")
    """
    return request.param


@pytest.fixture
def mosaic(skymethod, mosaics, skyqa_field):
    """The mosaic of the current ``skymethod``.

    Example::

        def test_sky(mosaic):
            assert mosaic.sci_path.exists()
    """
    if skymethod not in mosaics:
        pytest.skip(f"field {skyqa_field.name} does not drizzle with skymethod {skymethod!r}")
    return mosaics[skymethod]


@pytest.fixture(scope="session")
def overlap_pairs(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """Sky difference of every overlapping pair of aligned FLTs, measured by skyqa.

    Example::

        def test_pairs(overlap_pairs):
            assert (overlap_pairs["n_pixels"] > 0).all()
    """
    return _run_stage(request.config, skyqa_pipeline, "overlaps")


@pytest.fixture(scope="session")
def source_offsets(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """Per aligned FLT, the mean offset of the stars photutils finds in it (placed by its
    WCS) from the reference catalog (`skyqa.sources.source_offsets`).

    Example::

        def test_offsets(source_offsets):
            assert (source_offsets["offset_mas"] < 10).all()
    """
    return _run_stage(request.config, skyqa_pipeline, "source_offsets")


@pytest.fixture(scope="session")
def mosaic_skies(skyqa_pipeline, mosaics, request: pytest.FixtureRequest):
    """Per pair of sky methods and region of the mosaic covered by one set of exposures:
    the mosaics' difference there and the difference their MDRIZSKY predict
    (`skyqa.pixels.sky_regions`).

    Example::

        def test_regions(mosaic_skies):
            assert len(mosaic_skies) > 0
    """
    return _run_stage(request.config, skyqa_pipeline, "mosaic_skies")


@pytest.fixture(scope="session")
def seam_table(overlap_pairs, mosaics):
    """Per overlapping pair, each sky method's seam in units of the per-pixel noise.

    Example::

        def test_seams(seam_table):
            assert seam_table["match"].abs().max() < 1
    """
    from skyqa.measure import seam_table

    return seam_table(overlap_pairs, {method: m.mdrizsky for method, m in mosaics.items()})


@pytest.fixture(scope="session")
def baseline_dir(skyqa_field, request: pytest.FixtureRequest):
    """This field's folder of stored baselines (`skyqa.baseline.baseline_folder`):
    ``<--skyqa-baseline-dir>/<field>``, the shipped baselines of a registered field, or
    ``<spec folder>/baselines/<field>`` for a user's spec.

    Example::

        def test_has_baseline(baseline_dir):
            assert (baseline_dir / "mdrizsky.csv").exists()
    """
    from skyqa.baseline import baseline_folder

    return baseline_folder(skyqa_field, request.config.stash[SETTINGS_KEY].baseline_dir)


@pytest.fixture(scope="session")
def header_table(raw_exposures):
    """One row per exposure: ROOTNAME, ASN_ID, TARGNAME, DETECTOR, FILTER, EXPTIME, ...

    Example::

        def test_one_filter(header_table):
            assert header_table["FILTER"].nunique() == 1
    """
    from skyqa.headers import header_table

    return header_table(raw_exposures.flt_paths)


@pytest.fixture(scope="session")
def delivered_wcs_table(raw_exposures):
    """One row per visit DRZ: the archive's WCSNAME, NMATCHES, RMS_RA/RMS_DEC (mas, pix).

    Example::

        def test_rms(delivered_wcs_table):
            assert (delivered_wcs_table["RMS_RA_pix"] < 1).all()
    """
    from skyqa.headers import delivered_wcs_table

    return delivered_wcs_table(raw_exposures.visit_drz_paths)


@pytest.fixture(scope="session")
def mdrizsky_table(mosaics):
    """MDRIZSKY (e-/s) per exposure (rows) and sky method (columns), like the tutorial's.

    Example::

        def test_zero(mdrizsky_table):
            assert mdrizsky_table["match"].min() == 0
    """
    from skyqa.drizzle import mdrizsky_by_method

    return mdrizsky_by_method(mosaics)


@pytest.fixture(scope="session")
def truth(raw_exposures):
    """The injected truth of a synthetic field (`skyqa.simulate.Truth`), else None.

    Example::

        def test_truth(truth):
            assert truth is None or truth.pedestals_e_s
    """
    from skyqa.simulate import load_truth

    return None if raw_exposures.truth_path is None else load_truth(raw_exposures.truth_path)
