"""Several fields in one session: every field's jobs in flight together.

One field's pipeline builds its stages a batch at a time, waiting for each; with several
fields, `build_fields` drives each field's pipeline from a thread of its own, so that the
jobs of all fields reach the executor together (one `SharedPool` of worker processes, or
a Dask cluster) and the workers stay busy across fields instead of field after field.
The exposures and catalogs are made first, one field after another, in this thread
(`acquire`): they may need the network, or none at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from skyqa.errors import SkyQAError
from skyqa.pipeline.facade import Pipeline


def build_fields(
    pipelines: Sequence[Pipeline], acquire: Callable[[Pipeline], object] | None = None
) -> dict[str, str]:
    """Build every pipeline's wanted results (`Pipeline.build_wanted`), all fields at once.

    ``acquire(pipeline)`` makes a field's exposures and catalog first (default: call
    them); a field whose inputs or stages fail is left to its checks, which report the
    error as they would alone. Returns each failed field's error sentence.
    """
    acquire = acquire or acquire_inputs
    failed: dict[str, str] = {}
    ready = []
    for pipeline in pipelines:
        try:
            acquire(pipeline)
        except SkyQAError as error:
            failed[pipeline.field.name] = str(error)
        else:
            ready.append(pipeline)
    if not ready:
        return failed
    with ThreadPoolExecutor(len(ready), thread_name_prefix="skyqa-field") as threads:
        futures = {pipeline.field.name: threads.submit(pipeline.build_wanted) for pipeline in ready}
    for name, future in futures.items():
        problem = future.exception()
        if isinstance(problem, SkyQAError):
            failed[name] = str(problem)
        elif problem is not None:
            raise problem
    return failed


def acquire_inputs(pipeline: Pipeline) -> None:
    """A field's exposures and catalog, made (or found) in this process."""
    pipeline.exposures()
    pipeline.reference_catalog()
