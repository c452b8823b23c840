"""Settings for the live server that the browser tests drive (gunicorn in a subprocess).

The test settings, plus whitenoise serving static files straight from the finders so the pages are
styled without a collectstatic into the working tree. Sign-in comes from DJANGO_OIDC_* in the
environment, as in production.
"""

from jewelry_site.settings.test import *  # noqa: F403

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
