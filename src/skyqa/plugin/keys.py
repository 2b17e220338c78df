"""What the plugin's hooks, fixtures and ledger share through pytest's config: stash keys,
the ledger's name and where the collected QA modules are."""

from __future__ import annotations

from pathlib import Path

import pytest

from skyqa.settings import Settings

SETTINGS_KEY = pytest.StashKey[Settings]()
FIELDS_KEY = pytest.StashKey[dict]()
WANTED_KEY = pytest.StashKey[set]()
CHECKS_DIR = Path(__file__).parents[1] / "qa"
LEDGER_NAME = "skyqa-ledger"
