from django.urls import path

from . import auth_views, password_views, views

app_name = "accounts"

urlpatterns = [
    path("login/", auth_views.login, name="login"),
    path("logout/", auth_views.logout, name="logout"),
    # Password accounts (the embedded default); with single sign-on on they lead to the provider.
    path("sign-up/", password_views.sign_up, name="sign-up"),
    path("password/reset/", password_views.password_reset, name="password-reset"),
    path("password/reset/sent/", password_views.password_reset_done, name="password-reset-done"),
    # The e-mailed link carries its token in the query string (never logged); it goes into the session at
    # once and the browser is sent on to the token-free form (.../<uidb64>/set-password/). Links sent
    # before that (token in the path, redacted in the logs: jewelry_site/logs.py) still work.
    path("password/reset/link/", password_views.password_reset_link, name="password-reset-link"),
    path("password/reset/<uidb64>/<token>/", password_views.password_reset_confirm, name="password-reset-confirm"),
    path("password/reset/complete/", password_views.password_reset_complete, name="password-reset-complete"),
    path("password/change/", password_views.password_change, name="password-change"),
    path("password/change/done/", password_views.password_change_done, name="password-change-done"),
    path("", views.profile, name="profile"),
    path("addresses/", views.address_list, name="address-list"),
    path("addresses/new/", views.address_create, name="address-create"),
    path("addresses/<int:pk>/edit/", views.address_update, name="address-update"),
    path("addresses/<int:pk>/delete/", views.address_delete, name="address-delete"),
    path("addresses/<int:pk>/default/", views.address_make_default, name="address-make-default"),
]
