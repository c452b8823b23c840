# Placeholder until the cart issue lands: the product page's "Add to bag" form posts here.
from django.urls import path

from . import views

app_name = "cart"

urlpatterns = [
    path("", views.cart_detail, name="detail"),
    path("add/", views.cart_add, name="add"),
]
