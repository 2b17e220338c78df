"""The pytest plugin, driven through pytester as a user would drive it."""

import pytest

from skyqa.settings import resolve_cache_dir


def test_unknown_field_is_a_usage_error_naming_the_known_fields(pytester):
    result = pytester.runpytest("--field", "no-such-field")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*Unknown field 'no-such-field'. Registered fields: acs-mini-sim, horsehead,"
            " horsehead-sim, m16-uvis, m16-uvis-sim, mini-sim*"
        ]
    )


def test_help_shows_the_skyqa_options(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*skyqa: QA of drizzled HST mosaics*", "*--field=NAME|SPEC.toml*"])
    result.stdout.fnmatch_lines(["*--skyqa-cache-dir=DIR*"])


def test_field_fixture_serves_a_users_own_test(pytester):
    pytester.makepyfile(
        test_kind="""
        def test_kind(skyqa_field):
            assert skyqa_field.name == "mini-sim"
            assert skyqa_field.kind == "synthetic"
        """
    )
    result = pytester.runpytest("--field", "mini-sim", "test_kind.py", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_kind[[]mini-sim[]] PASSED*"])


def test_field_given_as_a_spec_path(pytester):
    from skyqa.field import registered_fields

    spec = registered_fields()["mini-sim"].read_text().replace('"mini-sim"', '"my-field"')
    pytester.path.joinpath("my-field.toml").write_text(spec)
    pytester.makepyfile(
        test_name="def test_name(skyqa_field):\n    assert skyqa_field.name == 'my-field'\n"
    )
    result = pytester.runpytest("--field", "my-field.toml", "test_name.py")
    result.assert_outcomes(passed=1)


def test_checks_without_a_field_say_how_to_give_one(pytester):
    pytester.makepyfile("def test_x(skyqa_field):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skyqa checks need a field: pass --field NAME*"])


def test_failed_verdict_reads_as_a_sentence_without_traceback(pytester):
    pytester.makepyfile(
        """
        from skyqa.plugin.verdicts import require
        from skyqa.verdict import Verdict

        def test_rms():
            require([Verdict("Fit RMS", "visit v1", False, "0.5 pix", "<= 0.3 pix", "look.")])
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Fit RMS FAILED for visit v1: measured 0.5 pix*Next: look.*"])
    result.stdout.no_fnmatch_line("*def test_rms*")


def test_a_finding_under_a_warn_policy_reads_as_a_warning_not_a_failure(pytester):
    pytester.makepyfile(
        """
        from skyqa.plugin.verdicts import warn
        from skyqa.verdict import Verdict

        def test_delivered():
            warn([Verdict("Delivered WCS", "visit v1", False, "GSC fit", "Gaia", "look.")])
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*Delivered WCS WARNING for visit v1: measured GSC fit*"])
    result.stdout.no_fnmatch_line("*FAILED*")


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SKYQA_CACHE_DIR", str(tmp_path / "env"))
    assert resolve_cache_dir(None, None) == tmp_path / "env"
    assert resolve_cache_dir(None, str(tmp_path / "ini")) == tmp_path / "ini"
    assert resolve_cache_dir(str(tmp_path / "cli"), str(tmp_path / "ini")) == tmp_path / "cli"
    monkeypatch.delenv("SKYQA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_cache_dir(None, None) == tmp_path / "xdg" / "skyqa"


@pytest.mark.integration
def test_packaged_checks_run_on_mini_sim(pytester, mini_pipeline, shared_cache_dir):
    """`pytest --field mini-sim` runs the shipped checks, reusing the session's cache."""
    result = pytester.runpytest(
        "--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir),
        "--skyqa-env-name", "here",
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0
    assert outcomes.get("errors", 0) == 0
    assert outcomes["passed"] >= 45
    # The synthetic visit DRZs are deliberately unaligned: the delivered-WCS check says
    # it does not apply, once per visit.
    assert outcomes["skipped"] == 4
    result.stdout.fnmatch_lines(
        [
            "*skyqa checks*",
            "PASSED*test_inputs_untouched[[]mini-sim[]]: worst *; * of * within threshold",
            "PASSED*test_mosaic_exists[[]mini-sim-match[]]: worst *",
            "PASSED*test_match_recovers_injected_pedestals[[]mini-sim-globalmin+match[]]: worst *",
            "skyqa verdict for mini-sim: PASSED. All * checks ran: * passed (*4 not applicable).",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*skyqa: mini-sim: drizzling the match mosaic: reused from cache*"]
    )

    from skyqa.summary import read_summary

    summary = read_summary(pytester.path / "skyqa-report" / "mini-sim" / "summary.json")
    assert summary["verdict"] == "passed"
    assert summary["environment"]["label"] == "here"
    assert summary["environment"]["versions"]["drizzlepac"]
    assert len(summary["checks"]) == outcomes["passed"] + outcomes["skipped"]
    # pytest counts a check that warned as passed; the summary names it warned.
    counts = summary["counts"]
    assert counts["passed"] + counts.get("warned", 0) == outcomes["passed"]
    statuses = {c["id"]: c["status"] for c in summary["checks"]}
    assert statuses["test_delivered_wcs[mini-sim-isqa01030]"] == "skipped"
    seams = next(c for c in summary["checks"] if c["id"] == "test_seam_free[mini-sim-match]")
    assert seams["verdicts"]
    assert all(v["passed"] for v in seams["verdicts"])
    metrics = summary["metrics"]
    assert metrics["seam_score"]["match"] < metrics["seam_score"]["localmin"]
    assert set(metrics["mdrizsky_e_s"]) == {"localmin", "match", "globalmin+match", "globalmin"}
    result.stdout.fnmatch_lines(["skyqa report: *skyqa-report/mini-sim/summary.json"])


def test_a_selection_builds_only_the_results_its_checks_need(
    pytester, mini_pipeline, shared_cache_dir, tmp_path
):
    """`-k tweakback` after the alignment: the WCS measurement is built, no mosaic."""
    import shutil

    cache = tmp_path / "cache"
    for entry in (shared_cache_dir / "mini-sim").glob("*"):
        if entry.name.startswith(("exposures-", "catalog-", "alignment-")):
            shutil.copytree(entry, cache / "mini-sim" / entry.name)
    result = pytester.runpytest(
        "--field", "mini-sim", "--skyqa-cache-dir", str(cache), "-k", "tweakback or truth"
    )
    outcomes = result.parseoutcomes()
    assert outcomes["passed"] == 2 * len(mini_pipeline.field.visit_ids())
    assert outcomes.get("failed", 0) == 0
    result.stdout.fnmatch_lines(["*mini-sim: measuring the aligned WCSs on the sky: done in*"])
    assert "drizzling" not in result.stdout.str()
    assert not list((cache / "mini-sim").glob("mosaic-*"))


@pytest.mark.parametrize(
    ("name", "offline"),
    [
        ("horsehead", "offline, the synthetic replica runs as `pytest --field horsehead-sim`."),
        ("m16-uvis", "offline, the synthetic replica runs as `pytest --field m16-uvis-sim`."),
    ],
)
def test_real_field_without_data_ends_with_one_message(pytester, tmp_path, name, offline):
    result = pytester.runpytest("--field", name, "--skyqa-cache-dir", str(tmp_path))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert output.count(f"skyqa cannot check field {name}") == 1
    assert f"are not in {tmp_path}/{name}/mast (no manifest.json)" in output
    assert "(no manifest.json), and MAST could not be reached (ConnectionError)." in output
    assert f"`skyqa fetch {name}`" in output
    assert offline in output
    assert "Traceback" not in output


@pytest.mark.integration
def test_baseline_off_by_more_than_its_tolerance_fails_and_regen_accepts(
    pytester, mini_pipeline, shared_cache_dir, tmp_path
):
    """The maintainer's workflow: a red baseline, then --force-regen, then green."""
    import shutil
    from pathlib import Path

    import pandas as pd

    stored = Path(__file__).parents[2] / "baselines" / "mini-sim"
    baselines = tmp_path / "baselines"
    shutil.copytree(stored, baselines / "mini-sim")
    path = baselines / "mini-sim" / "mdrizsky.csv"
    table = pd.read_csv(path, index_col=0)
    table.loc[2, "match"] += 0.01  # tolerance in mini-sim.toml: 0.001 e-/s
    table.to_csv(path, float_format="%.17g")
    arguments = [
        "--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir),
        "--skyqa-baseline-dir", str(baselines), "-k", "matches_baseline",
    ]  # fmt: skip

    red = pytester.runpytest(*arguments)
    red.assert_outcomes(passed=2, failed=1)
    red.stdout.fnmatch_lines(["*Values are not sufficiently close*", "*match:*"])

    regenerated = pytester.runpytest(*arguments, "--force-regen")
    regenerated.assert_outcomes(passed=2, failed=1)
    regenerated.stdout.fnmatch_lines(["*--force-regen set, regenerating file*"])

    pytester.runpytest(*arguments).assert_outcomes(passed=3)
    restored = pd.read_csv(path, index_col=0)
    assert restored.loc[2, "match"] == pytest.approx(table.loc[2, "match"] - 0.01, abs=1e-9)


@pytest.mark.integration
def test_local_folder_field_runs_every_check_and_is_left_untouched(
    pytester, mini_pipeline, shared_cache_dir, tmp_path
):
    """A user's own folder of FLTs, visit DRZs and catalog: same checks, folder read-only."""
    import hashlib
    import shutil
    from pathlib import Path

    exposures = mini_pipeline.exposures()
    folder = tmp_path / "my data"
    folder.mkdir()
    for path in [*exposures.flt_paths, *exposures.visit_drz_paths]:
        shutil.copy2(path, folder / path.name)
    shutil.copy2(exposures.catalog_path, folder / "stars.ecsv")

    def digests():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    before = digests()
    spec = (Path(__file__).parents[2] / "src/skyqa/fields/mini-sim.toml").read_text()
    head, _, _ = spec.partition("[synthetic]")
    head = head.replace('name = "mini-sim"', 'name = "my-local"').replace(
        'kind = "synthetic"', 'kind = "local"'
    )
    head = head.replace('source = "synthetic"', 'source = "file"')
    spec_path = tmp_path / "my-local.toml"
    spec_path.write_text(head + '[local]\ndirectory = "my data"\ncatalog = "my data/stars.ecsv"\n')
    baselines = tmp_path / "baselines"
    shutil.copytree(Path(__file__).parents[2] / "baselines" / "mini-sim", baselines / "my-local")

    result = pytester.runpytest(
        "--field", str(spec_path), "--skyqa-cache-dir", str(shared_cache_dir),
        "--skyqa-baseline-dir", str(baselines),
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes.get("errors", 0) == 0
    assert outcomes["passed"] >= 30
    # Real data carry no truth: the truth checks say so and skip, nothing else does; the
    # per-visit ones (and the delivered WCS of the unaligned DRZs) once per visit DRZ.
    visits = len(mini_pipeline.exposures().visit_drz_paths)
    methods = len(mini_pipeline.field.astrodrizzle.skymethods)
    # ... and the product's stars against their true positions, once per sky method.
    assert outcomes["skipped"] == 2 + 2 * visits + methods
    result.stdout.fnmatch_lines(
        [
            "skyqa verdict for my-local: PASSED. All * checks ran: * "
            f"(*{2 + 2 * visits + methods} not appl*"
        ]
    )
    for visit in ("isqa01030", "isqa04030"):
        result.stdout.fnmatch_lines([f"*test_alignment_fit?my-local-{visit}?*"])
    assert digests() == before


def _toml_list(key: str, values: list[str]) -> str:
    return f"{key} = [{', '.join(repr(value) for value in values)}]".replace("'", '"')


@pytest.mark.integration
def test_planted_cache_lets_the_real_field_run_offline(
    pytester, mini_pipeline, shared_cache_dir, tmp_path
):
    """`pytest --field horsehead` with a cache laid out as `skyqa fetch` leaves it, and the
    network refused: the whole pipeline runs. (The planted files are mini-sim's, so the
    horsehead baselines are not compared here.)"""
    import re
    import shutil

    from skyqa import mast
    from skyqa.field import load_field_spec, registered_fields

    cache_dir = tmp_path / "cache"
    downloads = cache_dir / "horsehead" / "mast"
    downloads.mkdir(parents=True)
    exposures = mini_pipeline.exposures()
    # The horsehead spec with the planted files declared (its own declares program 12812's).
    text = registered_fields()["horsehead"].read_text()
    text = re.sub(
        r"expected_rootnames = \[[^\]]*\]",
        _toml_list("expected_rootnames", [path.name[:9] for path in exposures.flt_paths]),
        text,
    )
    text = re.sub(
        r"expected_associations = \[[^\]]*\]",
        _toml_list("expected_associations", [path.name[:9] for path in exposures.visit_drz_paths]),
        text,
    )
    spec = tmp_path / "horsehead.toml"
    spec.write_text(text)
    field = load_field_spec(spec)
    planted = []
    for path in [*exposures.flt_paths, *exposures.visit_drz_paths]:
        shutil.copy2(path, downloads / path.name)
        planted.append((downloads / path.name, f"mast:HST/product/{path.name}", path.name[:9]))
    mast.write_manifest(downloads, field.mast, planted)
    shutil.copy2(exposures.catalog_path, downloads / "catalog_astrometric_5arcmin.ecsv")

    result = pytester.runpytest(
        "--field", str(spec), "--skyqa-cache-dir", str(cache_dir), "-k", "not matches_baseline"
    )  # fmt: skip
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes.get("errors", 0) == 0
    assert outcomes["passed"] >= 25
    result.stdout.fnmatch_lines(["*skyqa: horsehead: drizzling the match mosaic: done in*"])
    assert "could not be reached" not in result.stdout.str()


def test_failure_making_the_exposures_ends_with_one_message(pytester, tmp_path, monkeypatch):
    from skyqa import acquire
    from skyqa.errors import PipelineStepError

    def broken(*args, **kwargs):
        raise PipelineStepError("AstroDrizzle failed making isqa01030: cannot import name X")

    monkeypatch.setattr(acquire, "acquire_exposures", broken)
    result = pytester.runpytest("--field", "mini-sim", "--skyqa-cache-dir", str(tmp_path))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str()
    assert output.count("skyqa cannot check field mini-sim: AstroDrizzle failed making") == 1


@pytest.mark.integration
def test_report_folder_has_a_valid_summary_and_figures_that_are_not_blank(
    pytester, mini_pipeline, shared_cache_dir
):
    import json

    import jsonschema
    from matplotlib.image import imread

    from skyqa.summary import schema_path

    result = pytester.runpytest("--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir))
    assert result.parseoutcomes().get("failed", 0) == 0
    folder = pytester.path / "skyqa-report" / "mini-sim"
    summary = json.loads((folder / "summary.json").read_text())
    jsonschema.validate(summary, json.loads(schema_path().read_text()))
    figures = sorted(path.name for path in (folder / "figures").glob("*.png"))
    assert {"mdrizsky.png", "mosaics.png", "difference.png", "seams.png"} <= set(figures)
    assert sum(name.startswith("alignment_") for name in figures) == 4
    for name in figures:
        pixels = imread(folder / "figures" / name)[..., :3]
        assert pixels.std() > 0.05, f"{name} is (nearly) blank"
    page = (folder / "index.html").read_text()
    assert page.count("data:image/png;base64,") == len(figures)
    result.stdout.fnmatch_lines(["skyqa report: *skyqa-report/mini-sim/index.html"])


@pytest.mark.integration
def test_metrics_are_junit_properties(pytester, mini_pipeline, shared_cache_dir):
    import xml.etree.ElementTree as ET

    pytester.runpytest(
        "--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir),
        "--junitxml", "junit.xml", "-k", "alignment_fit or seam_free",
    )  # fmt: skip
    tree = ET.parse(pytester.path / "junit.xml")
    properties = {
        prop.get("name"): float(prop.get("value"))
        for case in tree.iter("testcase")
        for prop in case.iter("property")
    }
    assert "skyqa TweakReg fit xrms | visit isqa01030" in properties
    assert 0 < properties["skyqa TweakReg fit xrms | visit isqa01030"] < 0.2
    seams = [name for name in properties if name.startswith("skyqa Overlap is seam-free | pair")]
    assert len(seams) >= 2 * 19  # every overlapping pair, for match and globalmin+match
    suite = {prop.get("name"): prop.get("value") for prop in tree.find("testsuite/properties")}
    assert suite["skyqa verdict | mini-sim"] == "partial"  # -k: a selection, not the field
    assert suite["skyqa headline | mini-sim"].startswith("6 of ")


HEAVY_MODULES = ("drizzlepac", "astropy.wcs", "astropy.table", "scipy", "matplotlib", "photutils")
"""What a run that finds everything in its cache has no use for (drizzlepac alone adds
about 0.45 s to the interpreter's exit; astropy.table and astropy.wcs 0.3 s of imports)."""


@pytest.mark.integration
def test_a_run_that_finds_everything_cached_imports_no_pipeline_library(
    pytester, mini_pipeline, shared_cache_dir
):
    """The second run of the checks, all results cached (figures too), in a fresh
    interpreter: it loads results and judges them, it imports none of HEAVY_MODULES."""
    pytester.makeconftest(
        f"""
        import sys

        def pytest_unconfigure(config):
            heavy = [name for name in {HEAVY_MODULES!r} if name in sys.modules]
            open("imported.txt", "w").write(" ".join(heavy))
        """
    )
    arguments = ["--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir)]
    pytester.runpytest_subprocess(*arguments)  # draws the report's figures if not yet
    warm = pytester.runpytest_subprocess(*arguments)
    assert warm.parseoutcomes().get("failed", 0) == 0
    assert "done in" not in warm.stderr.str()  # nothing built
    imported = (pytester.path / "imported.txt").read_text()
    assert imported == "", f"a fully cached run imported {imported}: import them where used"


@pytest.mark.integration
def test_a_session_with_an_injected_fault_never_writes_a_baseline(
    pytester, mini_pipeline, shared_cache_dir, tmp_path
):
    """A faulted run's tables are the fault's: with no stored baseline nothing is written,
    and --force-regen leaves a stored one as it was."""
    import shutil
    from pathlib import Path

    empty, stored = tmp_path / "empty", tmp_path / "stored"
    shutil.copytree(Path(__file__).parents[2] / "baselines" / "mini-sim", stored / "mini-sim")
    before = {p.name: p.read_bytes() for p in (stored / "mini-sim").iterdir()}
    arguments = [
        "--field", "mini-sim", "--skyqa-cache-dir", str(shared_cache_dir),
        "--skyqa-inject-fault", "mixed-filter", "-k", "matches_baseline",
    ]  # fmt: skip

    unstored = pytester.runpytest(*arguments, "--skyqa-baseline-dir", str(empty))
    unstored.assert_outcomes(skipped=3)
    unstored.stdout.fnmatch_lines(["*a session with an injected fault (mixed-filter) never*"])
    assert not list(empty.rglob("*.csv"))

    pytester.runpytest(*arguments, "--skyqa-baseline-dir", str(stored), "--force-regen")
    assert {p.name: p.read_bytes() for p in (stored / "mini-sim").iterdir()} == before


def test_checks_run_for_the_sky_methods_the_field_drizzles(pytester):
    """A field's own list of sky methods parametrizes the QA checks: a field drizzling
    localmin and match has no globalmin checks to skip, and the checks of the methods
    that match skies run for match alone."""
    from skyqa.field import registered_fields

    spec = registered_fields()["mini-sim"].read_text().replace('"mini-sim"', '"two-methods"')
    spec = spec.replace(
        'skymethods = ["localmin", "match", "globalmin+match", "globalmin"]',
        'skymethods = ["localmin", "match"]',
    )
    pytester.path.joinpath("two-methods.toml").write_text(spec)
    result = pytester.runpytest("--field", "two-methods.toml", "--collect-only", "-q")
    listed = result.stdout.str()
    assert "test_mosaic_exists[two-methods-localmin]" in listed
    assert "test_mosaic_exists[two-methods-match]" in listed
    assert "test_seam_free[two-methods-match]" in listed
    assert "-globalmin]" not in listed
    assert "-globalmin+match]" not in listed
    assert "test_seam_free[two-methods-localmin]" not in listed
