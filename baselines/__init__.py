"""The registered fields' stored baselines, shipped inside skyqa as ``skyqa._baselines``.

One folder per field, three CSV tables each; baselines/README.md says what they hold.
"""
