"""skyqa's one way to write HTML: Jinja2 templates shipped in ``skyqa/report/templates``.

``base.html`` holds the page frame and the shared status colours (a cell or row whose
class is a status, ``failed``, ``passed``, ``warned``, ``partial``..., has its colour);
``index.html`` is the report page (`skyqa.report.page`), ``comparison.html`` the page of
``skyqa compare`` (`skyqa.compare`). Every value is escaped (autoescape); a name a
template uses but is not given is an error, not an empty string.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: object) -> str:
    """The named template filled with ``context``."""
    return _environment().get_template(template).render(**context)
