# Mounted at the site root: /checkout/... for placing an order, /orders/... for reading them.
from django.urls import path

from . import views

app_name = "orders"

urlpatterns = [
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/confirmation/<str:number>/", views.confirmation, name="confirmation"),
    path("orders/", views.order_list, name="order-list"),
    path("orders/view/<str:token>/", views.guest_order, name="guest-order"),
    path("orders/<str:number>/", views.order_detail, name="order-detail"),
]
