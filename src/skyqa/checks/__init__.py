"""skyqa's checks: plain functions over plain data, and the pytest modules that run them.

The modules named ``test_*.py`` here are what ``pytest --field NAME`` collects. Each
calls a function from a sibling module (``mosaics``, ``sky``) that takes tables, headers
or paths and returns `skyqa.verdict.Verdict` objects, so every check can also be run on
data that did not come from skyqa's pipeline.
"""
