# Mounted at the site root: /checkout/... for placing an order, /orders/... for reading them.
from django.urls import path, register_converter

from . import views


class OrderNumberConverter:
    """Order numbers are short and plain ("MA-12345678"): anything else 404s before reaching the database."""

    regex = "[A-Za-z0-9-]{1,20}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(OrderNumberConverter, "order_number")

app_name = "orders"

urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/confirmation/<order_number:number>/", views.confirmation, name="confirmation"),
    path("orders/", views.order_list, name="order-list"),
    # The e-mail's link (token in the query string) and links sent before it (token in the path, redacted
    # in logs) are exchanged for a session grant and redirect to the token-free guest-order page.
    path("orders/view/", views.guest_link, name="guest-link"),
    path("orders/view/<str:token>/", views.guest_link, name="guest-link-legacy"),
    path("orders/guest/<order_number:number>/", views.guest_order, name="guest-order"),
    path("orders/<order_number:number>/", views.order_detail, name="order-detail"),
]
