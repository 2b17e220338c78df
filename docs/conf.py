"""Sphinx configuration of skyqa's reference documentation (built with -W in the tests)."""

project = "skyqa"
author = "the skyqa developers"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3
html_theme = "alabaster"
