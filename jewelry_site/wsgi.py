"""WSGI entry point for gunicorn (deploy/gunicorn.conf.py).

Fails closed: without DJANGO_SETTINGS_MODULE it refuses to start instead of falling back to the
development settings (DEBUG on, a known SECRET_KEY). The instance sets it in /etc/jewelry/jewelry.env;
a developer serving the shop under gunicorn names it on the command line.
"""

import os

from django.core.wsgi import get_wsgi_application

if not os.environ.get("DJANGO_SETTINGS_MODULE"):
    raise SystemExit(
        "start-up stopped: DJANGO_SETTINGS_MODULE is not set (jewelry_site.settings.prod on an instance, "
        "see deploy/jewelry.env.example); the WSGI entry point has no default."
    )

application = get_wsgi_application()
