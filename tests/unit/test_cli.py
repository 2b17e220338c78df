import pytest

from skyqa.cli import main


def test_fields_lists_each_field_with_its_description(capsys):
    assert main(["fields"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["acs-mini-sim", "synthetic", "ACS/WFC"],
        ["horsehead", "mast", "WFC3/IR"],
        ["horsehead-sim", "synthetic", "WFC3/IR"],
        ["m16-uvis", "mast", "WFC3/UVIS"],
        ["m16-uvis-sim", "synthetic", "WFC3/UVIS"],
        ["mini-sim", "synthetic", "WFC3/IR"],
    ]
    assert "synthetic" in lines[2]
    assert "Synthetic replica of the Horsehead" in lines[2]


@pytest.mark.parametrize("command", ["run", "fetch"])
def test_an_unknown_field_is_a_usage_error_with_pytests_code(capsys, command):
    """The same code as `pytest --field no-such-field` (tests/plugin/test_plugin.py)."""
    assert main([command, "no-such-field"]) == pytest.ExitCode.USAGE_ERROR == 4
    assert "Registered fields: acs-mini-sim, horsehead" in capsys.readouterr().err


def test_faults_lists_each_fault_with_how_it_is_injected_and_its_size(capsys):
    from skyqa.faults import FAULTS

    assert main(["faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("{first_visit}, {last_visit}: the field's first and last visit")
    lines = lines[:-1]
    described = lines[0::2]
    assert [line.split()[0] for line in described] == list(FAULTS)
    by_name = {line.split()[0]: line.split() for line in described}
    assert by_name["misaligned-exposure"][1:5] == ["exposures", "pipeline", "50", "mas"]
    assert by_name["nan-shift"][1:4] == ["alignment", "plumbing", "-"]
    assert lines[1].strip() == "must fail: test_shift_file"


def test_faults_for_a_field_name_its_checks_with_its_visits(capsys):
    """No raw placeholder: the ids a field's session must fail, its visits filled in; a
    fault of another detector says it does not apply."""
    assert main(["faults", "--field", "mini-sim"]) == 0
    out = capsys.readouterr().out
    assert "{" not in out
    assert "must fail: test_alignment_residuals[mini-sim-isqa04030]" in out
    assert "must fail: test_tweakback_moved_flts[mini-sim-isqa01030]" in out
    assert "does not apply to mini-sim (WFC3/IR)" in out
    assert main(["faults", "--field", "no-such-field"]) == 4
    assert "no-such-field" in capsys.readouterr().err


def test_fetch_offline_says_what_happened_and_leaves_nothing_behind(capsys, tmp_path):
    # The test session refuses connections, as a machine with no network does.
    assert main(["fetch", "horsehead", "--cache-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    message = [line for line in err.splitlines() if "Nothing was downloaded" in line]
    assert len(message) == 1
    assert message[0].startswith("skyqa: horsehead: MAST could not be reached (ConnectionError).")
    assert f"copy its {tmp_path}/horsehead/mast folder to the same place here" in message[0]
    assert "MAST cannot be reached: MAST could not" not in err
    assert list(tmp_path.iterdir()) == []  # no empty field folder, no lock file
