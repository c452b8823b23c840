"""Work the gunicorn master does once, before it forks its workers (deploy/gunicorn.conf.py: when_ready).

Workers are replaced now and then (max_requests, HUP, crashes). Whatever a fresh worker has to build
on its first request shows as a slow request: compiling the templates alone took ~120 ms of a
~160 ms first page in bench/ (issue #7). Built once in the master, it is inherited by every worker.
"""

import logging
from pathlib import Path

from django.conf import settings
from django.template import TemplateSyntaxError, engines
from django.urls import get_resolver

logger = logging.getLogger("jewelry_site.warmup")
TEMPLATE_SUFFIXES = {".html", ".txt"}


def templates_compile() -> int:
    """Compile every template of the project's template folders into the engine's cached loader.

    Returns how many were compiled. A template that does not compile is logged and left for its page
    to report: start-up must not depend on it."""
    engine = engines["django"]
    compiled = 0
    for folder in settings.TEMPLATES[0]["DIRS"]:
        root = Path(folder)
        for path in sorted(root.rglob("*")):
            if path.suffix not in TEMPLATE_SUFFIXES or not path.is_file():
                continue
            try:
                engine.get_template(path.relative_to(root).as_posix())
            except TemplateSyntaxError:
                event = "template_warmup_failed"
                logger.warning(event, extra={"event": event, "template": str(path)})
                continue
            compiled += 1
    return compiled


def warm_up() -> int:
    """Everything a worker would otherwise build on its first requests: URL patterns and templates."""
    get_resolver().url_patterns  # noqa: B018 - imports every urls module and view
    return templates_compile()
