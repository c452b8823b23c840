"""Bench-only URLconf: the whole shop plus the reference view (and media, for the browser audit)."""

from django.conf import settings
from django.urls import include, path, re_path
from django.views.static import serve

from bench.views import reference
from jewelry_site import urls as site_urls

urlpatterns = [
    path("__bench__/reference/", reference, name="bench-reference"),
    # Production serves media from CloudFront; on loopback the audit still needs the images to load.
    re_path(rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    path("", include("jewelry_site.urls")),
]

# Same error pages as the shop.
handler400 = getattr(site_urls, "handler400", "django.views.defaults.bad_request")
handler403 = getattr(site_urls, "handler403", "django.views.defaults.permission_denied")
handler404 = getattr(site_urls, "handler404", "django.views.defaults.page_not_found")
handler500 = getattr(site_urls, "handler500", "django.views.defaults.server_error")
