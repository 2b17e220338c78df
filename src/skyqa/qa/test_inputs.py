"""QA: the pipeline never modified its inputs."""

from skyqa.checks.inputs import check_inputs_untouched
from skyqa.plugin.verdicts import require


def test_inputs_untouched(skyqa_pipeline, mosaics):
    """After every stage ran, each acquired file hashes as it did when acquired."""
    entry = skyqa_pipeline.stage_entry("exposures")
    require(check_inputs_untouched(entry.directory, entry.manifest))
