"""The pipeline: exposures -> catalog -> alignment -> mosaics, cached stage by stage.

- `skyqa.pipeline.facade`: `Pipeline`, one public method per result;
- `skyqa.pipeline.stages`: the stage table, each stage written once (name, inputs,
  key, code, build, load);
- `skyqa.pipeline.scheduler`: builds cache entries in this process or through any
  `concurrent.futures.Executor`, knowing no stage.

Usable without pytest::

    from skyqa.field import resolve_field
    from skyqa.pipeline import Pipeline

    pipeline = Pipeline(resolve_field("mini-sim"), cache_dir="~/.cache/skyqa")
    mosaics = pipeline.mosaics()
    print(mosaics["match"].mdrizsky)
"""

from skyqa.pipeline.facade import Pipeline

__all__ = ["Pipeline"]
