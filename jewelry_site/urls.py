"""Project URLs: each app mounts its own namespaced urls (app_name set in the app)."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.sitemaps.views import sitemap
from django.urls import include, path

from accounts import auth_views as accounts_auth_views  # sign-in (helper F)
from catalog.sitemaps import SITEMAPS
from catalog.views import RobotsTxtView, favicon
from jewelry_site import admin_dashboard
from pages.sitemaps import PageSitemap

urlpatterns = [
    # Sign-in (helper F): the admin signs in and out the way the shop does (Cognito when it is on),
    # so its own password form is no back door; these two must come before admin.site.urls.
    path("admin/login/", accounts_auth_views.admin_login, name="admin-login"),
    path("admin/logout/", accounts_auth_views.logout, name="admin-logout"),
    path("oidc/", include("accounts.oidc_urls")),  # mozilla-django-oidc: /oidc/authenticate/, /oidc/callback/
    # The admin home with the shop's dashboard (issue 16); everything else under admin/ is Django's.
    path("admin/", admin_dashboard.admin_index, name="admin-dashboard"),
    path("admin/", admin.site.urls),
    path("cart/", include("cart.urls")),
    path("", include("orders.urls")),  # /checkout/ and /orders/ (orders/urls.py)
    path("", include("payments.urls")),  # /checkout/pay/<number>/ and Stripe's webhook (issue #11)
    path("account/", include("accounts.urls")),
    # Issue #14 (helper content): content pages, back-in-stock sign-ups, wishlists.
    path("info/", include("pages.urls")),
    path("back-in-stock/", include("restock.urls")),
    path("wishlist/", include("wishlist.urls")),
    # SEO and browser extras (storefront helper): sitemap, robots.txt, /favicon.ico
    path(
        "sitemap.xml",
        sitemap,
        {"sitemaps": {**SITEMAPS, "pages": PageSitemap}},
        name="django.contrib.sitemaps.views.sitemap",
    ),
    path("robots.txt", RobotsTxtView.as_view(), name="robots-txt"),
    path("favicon.ico", favicon, name="favicon"),
    path("", include("catalog.urls")),
]

# Local photos under `make run` (helper E): Django's static() serves MEDIA_URL only with DEBUG on and
# a local MEDIA_URL; in production photos come from CloudFront and this adds nothing.
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

handler404 = "django.views.defaults.page_not_found"
handler500 = "jewelry_site.views.server_error"
