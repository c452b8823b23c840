from django.urls import path

from . import auth_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.login, name="login"),
    path("logout/", auth_views.logout, name="logout"),
    path("", views.profile, name="profile"),
    path("addresses/", views.address_list, name="address-list"),
    path("addresses/new/", views.address_create, name="address-create"),
    path("addresses/<int:pk>/edit/", views.address_update, name="address-update"),
    path("addresses/<int:pk>/delete/", views.address_delete, name="address-delete"),
    path("addresses/<int:pk>/default/", views.address_make_default, name="address-make-default"),
]
