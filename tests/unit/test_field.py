import dataclasses
import tomllib

import pytest

from skyqa.errors import FieldSpecError, UnknownFieldError
from skyqa.field import (
    SKY_METHODS,
    load_field_spec,
    parse_field_spec,
    registered_fields,
    resolve_field,
)


@pytest.fixture
def mini_raw():
    return tomllib.loads(registered_fields()["mini-sim"].read_text())


def test_registry_lists_the_three_shipped_fields():
    assert list(registered_fields()) == ["horsehead", "horsehead-sim", "mini-sim"]


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
    with pytest.raises(UnknownFieldError, match="Registered fields: horsehead, horsehead-sim"):
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
    with pytest.raises(FieldSpecError, match="allowed values: 'synthetic', 'mast'"):
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


def test_fingerprint_follows_content_not_path(tmp_path, mini_raw):
    spec = parse_field_spec(mini_raw)
    assert spec.fingerprint() == parse_field_spec(dict(mini_raw)).fingerprint()
    changed = dict(mini_raw, synthetic=dict(mini_raw["synthetic"], seed=1))
    assert parse_field_spec(changed).fingerprint() != spec.fingerprint()
    assert dataclasses.replace(spec, source_path=tmp_path).fingerprint() == spec.fingerprint()


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
