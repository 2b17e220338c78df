"""skyqa's checks: plain functions over plain data, no pytest.

Each module here (``alignment``, ``mosaics``, ``sky``, ...) holds functions that take
tables, headers or paths and return `skyqa.verdict.Verdict` objects, so every check can
also be run on data that did not come from skyqa's pipeline. The pytest modules that
``pytest --field NAME`` collects live in `skyqa.qa`.
"""
