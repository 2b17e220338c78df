"""A verdict per product: a failing product that is not released leaves the field PASSED;
a failing released product fails it. Driven through pytester with the ledger of a real
session, on checks that judge one sky method's mosaic each."""

from __future__ import annotations

import json

import pytest

from skyqa.plugin.ledger import CheckLedger

CHECKS = """
import pytest
from types import SimpleNamespace

from skyqa.plugin.verdicts import require
from skyqa.verdict import Verdict

FIELD = SimpleNamespace(name="f", released_methods=({released}))


def _verdict(method, passed):
    return Verdict("Seam", f"pair a-b ({{method}})", passed, "0.2 x noise", "<= 0.1", "look")


@pytest.mark.parametrize("skyqa_field", [FIELD], ids=["f"])
@pytest.mark.parametrize("skymethod", ["match", "localmin"])
def test_seam_free(skyqa_field, skymethod):
    require([_verdict(skymethod, skymethod != "localmin")])


@pytest.mark.parametrize("skyqa_field", [FIELD], ids=["f"])
def test_shared(skyqa_field):
    require([_verdict("all", True)])
"""


def _run(pytester, released: str):
    pytester.makepyfile(test_checks=CHECKS.format(released=released))
    report = pytester.path / "report"
    ledger = CheckLedger(pytester.path, ["f"], report, "local")
    result = pytester.runpytest("-p", "no:cacheprovider", plugins=[ledger])
    return result, json.loads((report / "f" / "summary.json").read_text())


def test_a_failing_product_that_is_not_released_leaves_the_field_passed(pytester):
    result, summary = _run(pytester, '"match",')
    assert result.ret == pytest.ExitCode.OK
    assert summary["verdict"] == "passed"
    assert summary["counts"]["total"] == 2  # the shared check and match's
    assert summary["headline"] == (
        "All 2 checks ran: 2 passed. Not released, not counted: localmin (UNFIT, 1 of its 1 "
        "checks failed (test_seam_free[localmin-f]))."
    )
    assert summary["products"]["localmin"]["released"] is False
    assert summary["products"]["localmin"]["verdict"] == "failed"
    assert summary["products"]["match"]["verdict"] == "passed"
    (localmin,) = [c for c in summary["checks"] if c["id"] == "test_seam_free[localmin-f]"]
    assert (localmin["status"], localmin["released"]) == ("failed", False)
    console = result.stdout.str()
    assert "FAILED     test_seam_free[localmin-f] (not released): worst pair a-b (localmin)" in (
        console
    )
    assert "NOT RELEASED, UNFIT: Seam FAILED for pair a-b (localmin)" in console


def test_a_failing_released_product_fails_the_field(pytester):
    result, summary = _run(pytester, '"match", "localmin"')
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert summary["verdict"] == "failed"
    assert summary["products"]["localmin"] == {
        "released": True,
        "verdict": "failed",
        "headline": "1 of 2 checks failed (test_seam_free[localmin-f]).",
        "counts": summary["products"]["localmin"]["counts"],
        "failed": ["test_seam_free[localmin-f]"],
    }
    assert "Not released" not in summary["headline"]


def test_the_summary_with_products_follows_its_schema(pytester):
    import jsonschema

    from skyqa.summary import schema_path

    _, summary = _run(pytester, '"match",')
    jsonschema.validate(summary, json.loads(schema_path().read_text()))
