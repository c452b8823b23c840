from django.urls import path

from orders.urls import OrderNumberConverter  # noqa: F401 (registers the order_number converter)

from . import views

app_name = "payments"

urlpatterns = [
    path("checkout/pay/<order_number:number>/", views.pay, name="pay"),
    path("checkout/pay/<order_number:number>/charge/", views.charge, name="charge"),
    path("payments/stripe/webhook/", views.stripe_webhook, name="stripe-webhook"),
]
