"""The fixtures skyqa's plugin provides: the field, its pipeline, and one per result.

Each runs its pipeline stage once per session and field (`skyqa.pipeline.Pipeline`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from skyqa.plugin.keys import FIELDS_KEY, LEDGER_NAME, SETTINGS_KEY, WANTED_KEY


def _progress(config: pytest.Config):
    """A progress printer that shows through pytest's output capture."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(message: str) -> None:
        if reporter is None or capture is None:
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
def skyqa_cluster(request: pytest.FixtureRequest):
    """The Dask cluster of ``--skyqa-scheduler`` (`skyqa.cluster.Cluster`), connected and
    checked once per session; None without one (the local process pool builds)."""
    settings = request.config.stash[SETTINGS_KEY]
    if settings.scheduler is None:
        yield None
        return
    from skyqa.cluster import Cluster
    from skyqa.errors import ClusterError

    try:
        cluster = Cluster.connect(settings.scheduler, settings.cache_dir)
    except ClusterError as error:
        ledger = request.config.pluginmanager.get_plugin(LEDGER_NAME)
        if ledger is not None:
            for field in ledger.fields:
                ledger.stage_error(field, str(error))
        pytest.exit(
            f"skyqa cannot use the Dask cluster: {error}",
            returncode=pytest.ExitCode.TESTS_FAILED,
        )
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def skyqa_pipelines(request: pytest.FixtureRequest):
    """Every field's `skyqa.pipeline.Pipeline`, by field name, made once per session.

    With several fields, their pipelines share one pool of worker processes (or the Dask
    cluster) and every field's stages are built at once before the first check
    (`skyqa.pipeline.session.build_fields`); one field's are built as its checks ask.
    """
    from skyqa.faults import get_fault
    from skyqa.pipeline import Pipeline
    from skyqa.pipeline.scheduler import SharedPool
    from skyqa.pipeline.session import build_fields
    from skyqa.workers import available_cpus

    config = request.config
    settings = config.stash[SETTINGS_KEY]
    fields = config.stash.get(FIELDS_KEY, {})
    cluster = request.getfixturevalue("skyqa_cluster")
    shared = None
    if cluster is not None:
        options: dict[str, Any] = {"executor": cluster.executor}
    elif len(fields) > 1:
        shared = SharedPool(settings.workers or available_cpus())
        options = {"executor": shared, "workers": shared.workers}
    else:
        options = {"workers": settings.workers}
    ledger = config.pluginmanager.get_plugin(LEDGER_NAME)
    pipelines = {}
    for name, spec in fields.items():
        pipeline = Pipeline(
            spec,
            settings.cache_dir,
            progress=_progress(config),
            allow_astrometry_db=settings.allow_astrometry_db,
            fault=get_fault(settings.fault) if settings.fault else None,
            **options,
        )
        pipeline.wanted = config.stash.get(WANTED_KEY, None)
        if ledger is not None:
            ledger.register_pipeline(name, pipeline)
        pipelines[name] = pipeline
    try:
        if len(pipelines) > 1:
            for name, sentence in build_fields(list(pipelines.values()), _acquire).items():
                _progress(config)(f"{name}: not built with the other fields: {sentence}")
        yield pipelines
    finally:
        for pipeline in pipelines.values():
            pipeline.close()
        if shared is not None:
            shared.close()


def _acquire(pipeline) -> None:
    """A field's exposures and catalog, with the network closed for a synthetic field."""

    from skyqa.offline import block_network
    from skyqa.pipeline.session import acquire_inputs

    synthetic = pipeline.field.kind == "synthetic"
    with block_network() if synthetic else contextlib.nullcontext():
        acquire_inputs(pipeline)


@pytest.fixture(scope="session")
def skyqa_pipeline(skyqa_field, skyqa_pipelines):
    """The field's `skyqa.pipeline.Pipeline`; every stage runs once per session.

    Example::

        def test_timings(skyqa_pipeline):
            skyqa_pipeline.mosaics()
            assert "alignment" in skyqa_pipeline.timings
    """
    return skyqa_pipelines[skyqa_field.name]


def _run_stage(config: pytest.Config, pipeline, result: Callable[[], Any]) -> Any:
    """Get a pipeline result (``result`` is one of the pipeline's methods); a skyqa
    error fails the test with its sentence, no traceback.

    Without exposures no check can run: a failure to acquire or make them ends the
    session with one message instead of one error per check.
    """
    from skyqa.errors import AcquisitionError, SkyQAError
    from skyqa.offline import block_network

    # A synthetic field never needs the network; with a Dask cluster the jobs' results
    # come over it (its workers may be on other machines), so it stays open then.
    offline = pipeline.field.kind == "synthetic" and config.stash[SETTINGS_KEY].scheduler is None
    try:
        if offline:
            with block_network():
                return result()
        return result()
    except SkyQAError as error:
        if isinstance(error, AcquisitionError) or result == pipeline.exposures:
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
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.exposures)


@pytest.fixture(scope="session")
def column_outliers(skyqa_pipeline, raw_exposures, request: pytest.FixtureRequest):
    """Each exposure's most deviant detector column (`skyqa.columns.column_outliers`).

    Example::

        def test_columns(column_outliers):
            assert (column_outliers["score"] < 10).all()
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.column_outliers)


@pytest.fixture(scope="session")
def reference_catalog(skyqa_pipeline, raw_exposures, request: pytest.FixtureRequest):
    """The reference catalog TweakReg aligns to (`skyqa.catalog.ReferenceCatalog`).

    Example::

        def test_catalog(reference_catalog):
            assert len(reference_catalog.table) > 3
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.reference_catalog)


@pytest.fixture(scope="session")
def alignment(skyqa_pipeline, reference_catalog, request: pytest.FixtureRequest):
    """TweakReg + tweakback results (`skyqa.align.AlignmentResult`).

    Example::

        def test_shifts(alignment):
            assert not alignment.shift_table.empty
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.alignment)


@pytest.fixture(scope="session")
def alignment_residuals(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """What a new TweakReg fit finds left on the updated visit DRZs: the verification
    pass's shift file as a table (`skyqa.align.parse_shift_file`; ideally all zero).

    Example::

        def test_nothing_left(alignment_residuals):
            assert (alignment_residuals["xsh_pix"].abs() < 0.1).all()
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.residuals)


@pytest.fixture(scope="session")
def alignment_placement(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """The aligned WCSs measured on the sky (`skyqa.astrometry.AlignmentPlacement`):
    how far tweakback moved each FLT against its visit DRZ's correction, and on synthetic
    fields each FLT's offset from its true WCS (mas).

    Example::

        def test_moved(alignment_placement):
            assert (alignment_placement.tweakback["moved_mas"] > 0).all()
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.placement)


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
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.mosaics)


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
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.overlaps)


@pytest.fixture(scope="session")
def source_offsets(skyqa_pipeline, alignment, request: pytest.FixtureRequest):
    """Per aligned FLT, the mean offset of the stars photutils finds in it (placed by its
    WCS) from the reference catalog (`skyqa.sources.source_offsets`).

    Example::

        def test_offsets(source_offsets):
            assert (source_offsets["offset_mas"] < 10).all()
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.source_offsets)


@pytest.fixture(scope="session")
def mosaic_skies(skyqa_pipeline, mosaics, request: pytest.FixtureRequest):
    """Per pair of sky methods and region of the mosaic covered by one set of exposures:
    the mosaics' difference there and the difference their MDRIZSKY predict
    (`skyqa.pixels.sky_regions`).

    Example::

        def test_regions(mosaic_skies):
            assert len(mosaic_skies) > 0
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.mosaic_skies)


@pytest.fixture(scope="session")
def product_measures(skyqa_pipeline, mosaics, request: pytest.FixtureRequest):
    """Every mosaic measured as a product (`skyqa.products.measure_product`, one stage
    per sky method): per sky method its stars against the catalog, their fluxes against
    each exposure's, its geometry and photometric keywords.

    Example::

        def test_products(product_measures):
            row, stars = product_measures.of("match")
            assert row["n_matched"] > 0
    """
    return _run_stage(request.config, skyqa_pipeline, skyqa_pipeline.products)


@pytest.fixture(scope="session")
def seam_table(skyqa_pipeline, overlap_pairs, mosaics):
    """Per overlapping pair, each sky method's seam in units of the per-pixel noise.

    Example::

        def test_seams(seam_table):
            assert seam_table["match"].abs().max() < 1
    """
    return skyqa_pipeline.seams()


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
def delivered_wcs_table(raw_exposures, skyqa_field):
    """One row per visit DRZ: the archive's WCSNAME, NMATCHES, RMS_RA/RMS_DEC (mas, and
    pixels of the field's detector).

    Example::

        def test_rms(delivered_wcs_table):
            assert (delivered_wcs_table["RMS_RA_pix"] < 1).all()
    """
    from skyqa.headers import delivered_wcs_table

    return delivered_wcs_table(
        raw_exposures.visit_drz_paths, skyqa_field.detector_model.plate_scale_arcsec
    )


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
