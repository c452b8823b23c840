"""Project-wide error views."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token
from django.views.defaults import server_error as default_server_error

# Seconds a client (or the load balancer) should wait before retrying while the database is away.
RETRY_AFTER_SECONDS = 5


@requires_csrf_token
def server_error(request, template_name: str = "500.html") -> HttpResponse:
    """500 for bugs; 503 with Retry-After when the database is unreachable, which is temporary.

    Django calls this inside its exception handler, so ``sys.exc_info()`` is the error at hand.
    """
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return default_server_error(request, template_name)
