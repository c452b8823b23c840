"""Project URLs: each app mounts its own namespaced urls (app_name set in the app)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("cart/", include("cart.urls")),
    path("checkout/", include("orders.urls")),
    path("account/", include("accounts.urls")),
    path("", include("catalog.urls")),
]

handler404 = "django.views.defaults.page_not_found"
handler500 = "django.views.defaults.server_error"
