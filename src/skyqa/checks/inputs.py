"""Checks that the pipeline left its inputs byte-identical."""

from __future__ import annotations

from pathlib import Path

from skyqa.cache import MANIFEST, file_digests
from skyqa.verdict import Verdict


def check_inputs_untouched(directory: Path, manifest: dict) -> list[Verdict]:
    """Every file recorded when the inputs were acquired still has the same SHA-256.

    Parameters
    ----------
    directory : Path
        The directory of the acquired exposures.
    manifest : dict
        The manifest written when they were acquired (``files``: relative path ->
        ``sha256``).
    """
    paths = {relative: directory / relative for relative in manifest["files"]}
    present = [path for path in paths.values() if path.is_file()]
    digests = dict(zip(present, file_digests(present), strict=True))
    verdicts = []
    for relative, described in manifest["files"].items():
        path = paths[relative]
        digest = digests.get(path, "file missing")
        recorded = described.get("sha256")
        recorded = recorded if isinstance(recorded, str) and recorded else "none recorded"
        verdicts.append(
            Verdict(
                "Input file is byte-identical to what was acquired",
                str(path),
                digest == recorded,
                f"SHA-256 {digest[:16]}",
                f"SHA-256 {recorded[:16]} (as acquired, see {MANIFEST})",
                "a pipeline step wrote into its input: every step must work on copies in "
                "its own directory; find the step whose log mentions this file.",
            )
        )
    return verdicts
