"""The shop's URLconf plus views that fail the way a lost database or a bug would."""

from django.db import OperationalError
from django.urls import path

from jewelry_site.urls import handler404, handler500  # noqa: F401
from jewelry_site.urls import urlpatterns as shop_urlpatterns


def database_gone(request):
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def bug(request):
    raise RuntimeError("a plain bug")


urlpatterns = [path("database-gone/", database_gone), path("bug/", bug), *shop_urlpatterns]
