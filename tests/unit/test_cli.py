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
