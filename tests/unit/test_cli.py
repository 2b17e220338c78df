from skyqa.cli import main


def test_fields_lists_each_field_with_its_description(capsys):
    assert main(["fields"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["horsehead", "horsehead-sim", "mini-sim"]
    assert "synthetic" in lines[1]
    assert "Synthetic replica of the Horsehead" in lines[1]


def test_run_refuses_an_unknown_field(capsys):
    assert main(["run", "no-such-field"]) == 2
    assert "Registered fields: horsehead" in capsys.readouterr().err


def test_faults_lists_each_fault_with_how_it_is_injected_and_its_size(capsys):
    from skyqa.faults import FAULTS

    assert main(["faults"]) == 0
    lines = capsys.readouterr().out.splitlines()
    described = lines[0::2]
    assert [line.split()[0] for line in described] == list(FAULTS)
    by_name = {line.split()[0]: line.split() for line in described}
    assert by_name["misaligned-exposure"][1:5] == ["exposures", "pipeline", "50", "mas"]
    assert by_name["nan-shift"][1:4] == ["alignment", "plumbing", "-"]
    assert lines[1].strip() == "must fail: test_shift_file"
