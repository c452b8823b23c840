from django.urls import path

from . import views

app_name = "catalog"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("shop/", views.ProductListView.as_view(), name="product-list"),
    path("category/<slug:slug>/", views.CategoryDetailView.as_view(), name="category-detail"),
    path("collection/<slug:slug>/", views.CollectionDetailView.as_view(), name="collection-detail"),
    path("product/<slug:slug>/", views.ProductDetailView.as_view(), name="product-detail"),
]
