import re
import tomllib

import pytest

from skyqa.errors import FieldSpecError, UnknownFieldError
from skyqa.field import (
    SKY_METHODS,
    Range,
    key_ranges,
    load_field_spec,
    parse_field_spec,
    registered_fields,
    resolve_field,
)


@pytest.fixture
def mini_raw():
    return tomllib.loads(registered_fields()["mini-sim"].read_text())


def test_registry_lists_the_shipped_fields():
    assert list(registered_fields()) == [
        "acs-mini-sim",
        "horsehead",
        "horsehead-sim",
        "m16-uvis",
        "m16-uvis-sim",
        "mini-sim",
    ]


def test_m16_uvis_is_the_notebook_query_of_the_uvis_tiles():
    spec = resolve_field("m16-uvis")
    assert (spec.kind, spec.detector) == ("mast", "WFC3/UVIS")
    assert (spec.detector_model.inputs, spec.detector_model.drizzled) == ("flc", "drc")
    assert (spec.mast.obs_id, spec.mast.proposal_id, spec.mast.filters) == (
        "ICK90[5678]*",
        "13926",
        ("F657N",),
    )
    assert spec.mast.products == ("FLC", "DRC")
    assert len(spec.mast.expected_rootnames) == 12
    visits = {name[:6] for name in spec.mast.expected_rootnames}
    assert visits == {"ick905", "ick906", "ick907", "ick908"}
    assert spec.visit_ids() == tuple(f"ick90{v}040" for v in "5678")
    assert (spec.astrodrizzle.final_bits, spec.astrodrizzle.final_scale) == ("64, 16", 0.04)
    assert spec.astrodrizzle.final_rot == -35.0


def test_fields_default_to_wfc3_ir():
    assert resolve_field("horsehead").detector == "WFC3/IR"
    assert resolve_field("horsehead-sim").detector_model.n_chips == 1


def test_unknown_detector_is_named():
    raw = dict(resolve_field("m16-uvis").raw, detector="NICMOS/NIC3")
    with pytest.raises(
        FieldSpecError,
        match=r"detector 'NICMOS/NIC3' is not one skyqa models; "
        r"it models WFC3/IR, WFC3/UVIS, ACS/WFC",
    ):
        parse_field_spec(raw, "x.toml")


def test_mast_products_must_be_the_detectors_files():
    raw = resolve_field("m16-uvis").raw
    raw = dict(raw, mast=dict(raw["mast"], products=["FLT", "DRZ"]))
    with pytest.raises(
        FieldSpecError,
        match=r"\[mast\].products lacks DRC, FLC: WFC3/UVIS "
        r"exposures are drizzled from \*_flc.fits",
    ):
        parse_field_spec(raw, "x.toml")


def test_horsehead_sim_replicates_the_real_program():
    spec = resolve_field("horsehead-sim")
    exposures = spec.synthetic.exposures
    assert len(exposures) == 18
    assert len({exposure.asn_id for exposure in exposures}) == 9
    assert exposures[0].rootname == "ibxl50clq"
    assert {exposure.exptime for exposure in exposures} == {702.938171}
    assert spec.tweakreg.threshold == 4.0
    assert spec.tweakreg.conv_width == 4.5
    assert spec.tweakreg.minobj == 3
    assert spec.tweakreg.searchrad == 1.0
    assert spec.tweakreg.ylimit == 0.4
    assert spec.tweakreg.nclip == 1
    assert spec.astrodrizzle.final_bits == "16"
    assert spec.astrodrizzle.final_rot == 257.0
    assert spec.astrodrizzle.final_wcs is True
    assert spec.astrodrizzle.preserve is False
    assert spec.astrodrizzle.context is False
    assert spec.astrodrizzle.skymethods == SKY_METHODS


def test_horsehead_is_the_mast_query_of_the_tutorial():
    mast = resolve_field("horsehead").mast
    assert (mast.obs_id, mast.proposal_id, mast.filters) == ("ibxl5*", "12812", ("F160W",))
    assert (mast.products, mast.project) == (("FLT", "DRZ"), "CALWF3")


def test_unknown_name_lists_the_registered_fields():
    with pytest.raises(
        UnknownFieldError,
        match="Registered fields: acs-mini-sim, horsehead, horsehead-sim, m16-uvis, m16-uvis-sim",
    ):
        resolve_field("no-such-field")


def test_missing_spec_file_is_named(tmp_path):
    with pytest.raises(UnknownFieldError, match=r"missing\.toml does not exist"):
        resolve_field(str(tmp_path / "missing.toml"))


def test_user_spec_file_is_loaded_by_path(tmp_path):
    text = registered_fields()["mini-sim"].read_text().replace('"mini-sim"', '"my-field"')
    path = tmp_path / "my-field.toml"
    path.write_text(text)
    spec = resolve_field(str(path))
    assert spec.name == "my-field"
    assert spec.source_path == path


def test_unknown_key_is_named_with_the_allowed_keys(mini_raw):
    mini_raw["tweakreg"]["treshold"] = 4
    with pytest.raises(FieldSpecError, match=r"\[tweakreg\]: unknown key\(s\) treshold\. "):
        parse_field_spec(mini_raw, "spec.toml")


def test_wrong_type_is_named(mini_raw):
    mini_raw["tweakreg"]["minobj"] = "three"
    with pytest.raises(FieldSpecError, match=r"tweakreg\]\.minobj must be of type int"):
        parse_field_spec(mini_raw, "spec.toml")


def test_integer_is_accepted_for_a_float(mini_raw):
    mini_raw["tweakreg"]["searchrad"] = 2
    assert parse_field_spec(mini_raw).tweakreg.searchrad == 2.0


def test_unknown_kind_lists_the_kinds(mini_raw):
    mini_raw["kind"] = "cloud"
    with pytest.raises(FieldSpecError, match=r"is 'cloud'; allowed: synthetic, mast, local\."):
        parse_field_spec(mini_raw, "spec.toml")


def test_kind_needs_its_section(mini_raw):
    del mini_raw["synthetic"]
    with pytest.raises(FieldSpecError, match=r"kind 'synthetic' needs a \[synthetic\] section"):
        parse_field_spec(mini_raw, "spec.toml")


def test_unknown_skymethod_is_refused(mini_raw):
    mini_raw["astrodrizzle"]["skymethods"] = ["match", "mode"]
    with pytest.raises(FieldSpecError, match="skymethods has mode; allowed: localmin"):
        parse_field_spec(mini_raw, "spec.toml")


def test_repeated_rootnames_are_refused(mini_raw):
    mini_raw["synthetic"]["exposure"][1]["rootname"] = "isqa01a1q"
    with pytest.raises(FieldSpecError, match="rootnames repeat: isqa01a1q"):
        parse_field_spec(mini_raw, "spec.toml")


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(FieldSpecError, match=r"broken\.toml is not valid TOML"):
        load_field_spec(path)


def test_workers_setting_precedence_and_errors(monkeypatch):
    import pytest

    from skyqa.settings import resolve_workers

    monkeypatch.setenv("SKYQA_WORKERS", "3")
    assert resolve_workers(None, None) == 3
    assert resolve_workers(None, "2") == 2
    assert resolve_workers(1, "2") == 1
    monkeypatch.delenv("SKYQA_WORKERS")
    assert resolve_workers(None, None) is None
    with pytest.raises(ValueError, match=r"--skyqa-workers = 0: give a whole number"):
        resolve_workers(0, None)
    with pytest.raises(ValueError, match=r"ini skyqa_workers = 'two'"):
        resolve_workers(None, "two")


@pytest.mark.parametrize(
    ("section", "key", "value", "allowed"),
    [
        ("thresholds", "fit_rms_max_pix", -0.1, "> 0 and <= 1.2 (HAP's 150 mas"),
        ("thresholds", "seam_max_noise_fraction", 0.0, "> 0 and <= 1 (a seam of one pixel"),
        ("thresholds", "min_matches", 0, ">= 1"),
        ("tweakreg", "searchrad", 0.0, "> 0"),
        ("tweakreg", "nclip", -1, ">= 0"),
        ("catalog", "radius_arcmin", 90.0, "> 0 and <= 60"),
        ("catalog", "min_separation_arcsec", -0.4, ">= 0"),
        ("target", "dec_deg", -91.0, ">= -90 and <= 90"),
        ("synthetic", "hot_pixel_fraction", 1.5, ">= 0 and <= 1"),
        ("synthetic", "exposure_jitter_mas", -3.0, ">= 0"),
    ],
)
def test_values_outside_their_physical_range_are_refused(mini_raw, section, key, value, allowed):
    mini_raw.setdefault(section, {})[key] = value
    pattern = rf"spec\.toml: \[{section}\]\.{key} is {value!r}; allowed: {re.escape(allowed)}"
    if "(" not in allowed:
        pattern += r"\.$"  # the whole sentence
    with pytest.raises(FieldSpecError, match=pattern):
        parse_field_spec(mini_raw, "spec.toml")


@pytest.mark.parametrize(
    "where", [key for key, limit in key_ranges().items() if key.startswith("[thresholds]")]
)
def test_a_limit_past_its_upper_bound_is_refused_with_the_reason(mini_raw, where):
    """A limit that would pass everything is refused, saying why; its bound is accepted."""
    limit = key_ranges()[where]
    section, key = where[1:].split("].")
    if key in ("min_matches", "min_overlap_pixels", "cosmic_ray_fraction_min"):
        return  # a count or a floor: larger is stricter (docs/field-spec.md)
    assert limit.le is not None, f"{where}: a limit has an upper bound"
    assert limit.why, f"{where}: an upper bound says why"
    if key == "astrometry_good_mas":  # the accepted limit may not be below the good one
        mini_raw[section]["astrometry_accepted_mas"] = limit.le
    mini_raw[section][key] = limit.le
    assert getattr(parse_field_spec(mini_raw, "spec.toml").thresholds, key) == limit.le
    mini_raw[section][key] = limit.le * 1.001
    with pytest.raises(FieldSpecError, match=re.escape(f"; allowed: {limit.text()}.")):
        parse_field_spec(mini_raw, "spec.toml")


def test_a_seam_limit_that_passes_everything_is_refused(mini_raw):
    mini_raw["thresholds"]["seam_max_noise_fraction"] = 1e9
    with pytest.raises(FieldSpecError, match=r"allowed: > 0 and <= 1 \(a seam of one pixel noise"):
        parse_field_spec(mini_raw, "spec.toml")


def test_a_range_says_what_it_admits():
    assert Range(gt=0).admits(1e-9)
    assert not Range(gt=0).admits(0)
    assert Range(ge=0).admits(0)
    assert not Range(ge=0).admits(-1e-9)
    assert Range(le=1).admits(1)
    assert not Range(le=1).admits(1.0000001)
    assert Range(ge=0, le=1, why="w").text() == ">= 0 and <= 1 (w)"
    assert not Range().admits(float("nan"))


def test_a_limit_that_is_not_a_number_is_refused(mini_raw):
    """TOML writes nan; no comparison with it fails, so it would pass every range."""
    mini_raw["thresholds"]["seam_max_noise_fraction"] = float("nan")
    with pytest.raises(FieldSpecError, match=r"seam_max_noise_fraction is nan; allowed: > 0"):
        parse_field_spec(mini_raw, "spec.toml")


def test_edges_of_the_ranges_are_accepted(mini_raw):
    mini_raw["tweakreg"]["nclip"] = 0
    mini_raw["catalog"]["radius_arcmin"] = 60
    mini_raw["target"]["dec_deg"] = -90
    mini_raw["thresholds"]["min_matches"] = 1
    mini_raw["synthetic"]["hot_pixel_fraction"] = 1.0
    assert parse_field_spec(mini_raw).tweakreg.nclip == 0


def test_no_sky_method_a_bad_fit_geometry_and_negative_tolerances_are_refused(mini_raw):
    for change, pattern in [
        (("astrodrizzle", "skymethods", []), r"skymethods is empty; name at least one of"),
        (("tweakreg", "fitgeometry", "affine"), r"fitgeometry is 'affine'; allowed: shift, "),
        (("baseline", "mdrizsky", {"match": -1e-3}), r"\[baseline\]\.mdrizsky\.match is -0\.001"),
        (("synthetic", "exposure", None), r"exposure isqa01a1q has exptime 0\.0; allowed: > 0"),
    ]:
        raw = tomllib.loads(registered_fields()["mini-sim"].read_text())
        section, key, value = change
        if key == "exposure":
            raw["synthetic"]["exposure"][0]["exptime"] = 0
        else:
            raw.setdefault(section, {})[key] = value
        with pytest.raises(FieldSpecError, match=pattern):
            parse_field_spec(raw, "spec.toml")


def test_keys_that_would_need_reference_files_are_refused_with_the_reason(mini_raw):
    mini_raw["astrodrizzle"]["updatewcs"] = True
    with pytest.raises(FieldSpecError, match=r"updatewcs is refused: skyqa never runs updatewcs"):
        parse_field_spec(mini_raw, "spec.toml")


def test_a_local_catalog_needs_source_file_and_the_reverse(tmp_path):
    raw = {
        "name": "mine",
        "description": "d",
        "kind": "local",
        "target": {"name": "T", "ra_deg": 1.0, "dec_deg": 2.0},
        "local": {"directory": "data", "catalog": "stars.csv"},
        "catalog": {"source": "gaia"},
    }
    with pytest.raises(FieldSpecError, match=r"\[local\]\.catalog is set but \[catalog\]\.source"):
        parse_field_spec(raw, "spec.toml")
    raw["local"] = {"directory": "data"}
    raw["catalog"] = {"source": "file"}
    with pytest.raises(FieldSpecError, match=r"needs a local field with \[local\]\.catalog set"):
        parse_field_spec(raw, "spec.toml")


def test_visit_ids_of_local_and_mast_fields_are_known_before_the_pipeline(tmp_path):
    horsehead = resolve_field("horsehead")
    assert horsehead.visit_ids() == tuple(f"ibxl5{i}030" for i in range(9))
    (tmp_path / "data").mkdir()
    for name in ("ibxl51030_drz.fits", "ibxl50030_drz.fits", "ibxl50clq_flt.fits"):
        (tmp_path / "data" / name).write_bytes(b"")
    spec = tmp_path / "mine.toml"
    spec.write_text(
        'name = "mine"\ndescription = "d"\nkind = "local"\n'
        '[target]\nname = "T"\nra_deg = 1.0\ndec_deg = 2.0\n'
        '[local]\ndirectory = "data"\n[catalog]\nsource = "gaia"\n'
    )
    assert load_field_spec(spec).visit_ids() == ("ibxl50030", "ibxl51030")


def test_a_local_ccd_fields_visits_are_its_drc_files(tmp_path):
    (tmp_path / "data").mkdir()
    for name in ("ick905040_drc.fits", "ick906040_drc.fits", "ick905k5q_flc.fits", "x_drz.fits"):
        (tmp_path / "data" / name).touch()
    spec = tmp_path / "mine.toml"
    spec.write_text(
        'name = "mine"\ndescription = "d"\nkind = "local"\ndetector = "WFC3/UVIS"\n'
        '[target]\nname = "T"\nra_deg = 1.0\ndec_deg = 2.0\n'
        '[local]\ndirectory = "data"\n[catalog]\nsource = "gaia"\n'
    )
    assert load_field_spec(spec).visit_ids() == ("ick905040", "ick906040")


def test_release_defaults_to_every_drizzled_method_and_names_only_drizzled_ones(mini_raw):
    assert parse_field_spec(mini_raw, "spec.toml").released_methods == SKY_METHODS
    mini_raw["release"] = {"methods": ["match", "globalmin+match"]}
    assert parse_field_spec(mini_raw, "spec.toml").released_methods == ("match", "globalmin+match")
    mini_raw["astrodrizzle"]["skymethods"] = ["match"]
    with pytest.raises(
        FieldSpecError,
        match=r"\[release\].methods has globalmin\+match, which \[astrodrizzle\].skymethods "
        "does not drizzle; allowed: match.",
    ):
        parse_field_spec(mini_raw, "spec.toml")
    mini_raw["release"] = {"methods": []}
    with pytest.raises(FieldSpecError, match=r"\[release\].methods is empty"):
        parse_field_spec(mini_raw, "spec.toml")


def test_the_m16_fields_release_the_notebooks_methods():
    for name in ("m16-uvis", "m16-uvis-sim"):
        assert resolve_field(name).released_methods == ("match", "globalmin+match")


@pytest.mark.parametrize(
    "key",
    [
        "wcs_truth_max_rms_mas",
        "source_offset_max_mas",
        "delivered_wcs_rms_max_pix",
        "oracle_tolerance_e_s",
    ],
)
def test_the_limits_issue_31_replaced_are_refused_with_what_replaced_them(mini_raw, key):
    mini_raw["thresholds"][key] = 10.0
    with pytest.raises(FieldSpecError, match=f"{key} is no longer a key: "):
        parse_field_spec(mini_raw, "spec.toml")


def test_hap_grades_must_be_in_order(mini_raw):
    mini_raw["thresholds"]["astrometry_good_mas"] = 25.0
    with pytest.raises(FieldSpecError, match=r"astrometry_accepted_mas \(20.0\) is below"):
        parse_field_spec(mini_raw, "spec.toml")
