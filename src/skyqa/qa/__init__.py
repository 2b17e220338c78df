"""The QA modules pytest collects for ``pytest --field NAME``: each turns a plain check
function of `skyqa.checks` into tests, and hands its verdicts to pytest through
`skyqa.plugin.verdicts`. The only modules of skyqa besides the plugin that import pytest.
"""
