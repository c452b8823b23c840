"""The OpenID Connect endpoints, mounted at /oidc/ without a namespace: mozilla-django-oidc reverses
``oidc_authentication_callback`` by that bare name to build the redirect_uri it sends the provider."""

from django.urls import path

from . import auth_views

urlpatterns = [
    path("authenticate/", auth_views.OIDCStartView.as_view(), name="oidc_authentication_init"),
    path("callback/", auth_views.OIDCCallbackView.as_view(), name="oidc_authentication_callback"),
]
