"""Settings for the e-mail worker subprocess in tests: the test settings, but SMTP to the loopback
server on TEST_SMTP_PORT (plain, no TLS or login: see tests/mail/smtp_server.py for what that skips)."""

from jewelry_site.settings.test import *  # noqa: F403
from jewelry_site.settings.test import env

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = env.int("TEST_SMTP_PORT")
EMAIL_USE_TLS = False
EMAIL_TIMEOUT = 5
