"""`Pipeline.computed`'s typed record."""

from __future__ import annotations

import pandas as pd
import pytest

from skyqa import results
from skyqa.pipeline.computed import RESULT_NAMES, Computed


def test_every_result_name_is_a_field_of_the_record():
    names = {
        value
        for name, value in vars(results).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("PREFIX")
    } - {results.FIGURES}
    assert names == set(RESULT_NAMES)


def test_a_result_is_asked_for_by_its_name_and_an_unknown_name_is_an_error():
    overlaps = pd.DataFrame({"exposure_a": ["a"], "exposure_b": ["b"]})
    computed = Computed(overlaps=overlaps)
    assert computed.of(results.OVERLAPS) is overlaps
    assert computed.of(results.SKIES) is None
    with pytest.raises(KeyError, match="no result named 'overlap'"):
        computed.of("overlap")


def test_built_holds_only_what_is_there():
    overlaps = pd.DataFrame({"exposure_a": ["a"]})
    assert Computed(overlaps=overlaps).built() == {"overlaps": overlaps}
    assert Computed().built() == {}  # no mosaics: an empty dict is not a result
