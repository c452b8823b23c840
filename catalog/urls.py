from django.urls import path
from django.views.generic import TemplateView

app_name = "catalog"

# Stubs; the storefront views replace these.
urlpatterns = [
    path("", TemplateView.as_view(template_name="base.html"), name="home"),
    path("shop/", TemplateView.as_view(template_name="base.html"), name="product-list"),
    path("category/<slug:slug>/", TemplateView.as_view(template_name="base.html"), name="category-detail"),
    path("product/<slug:slug>/", TemplateView.as_view(template_name="base.html"), name="product-detail"),
]
