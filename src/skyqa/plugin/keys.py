"""What the plugin's hooks, fixtures and ledger share through pytest's config: stash keys,
the ledger's name and where the collected QA modules are."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyqa.settings import Settings

SETTINGS_KEY = pytest.StashKey[Settings]()
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
CHECKS_DIR = Path(__file__).parents[1] / "checks" / "qa"
LEDGER_NAME = "skyqa-ledger"
