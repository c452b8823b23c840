from django.urls import path

from . import views

app_name = "restock"

urlpatterns = [
    path("", views.signup, name="signup"),
    # The e-mail's link carries its token in the query string (?t=) and is exchanged for the session at once;
    # links sent before that carry it in the path (redacted in the logs: jewelry_site/logs.py TOKEN_PATHS).
    path("unsubscribe/", views.unsubscribe, name="unsubscribe"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe-legacy"),
]
