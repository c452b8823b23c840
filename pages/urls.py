from django.urls import path

from .views import PageDetailView

app_name = "pages"

SIZE_GUIDE_SLUG = "size-guide"

urlpatterns = [
    # A name of its own, so SHOP_SIZE_GUIDE_URL = "pages:size-guide" links every ring's size choice here.
    path(f"{SIZE_GUIDE_SLUG}/", PageDetailView.as_view(), {"slug": SIZE_GUIDE_SLUG}, name="size-guide"),
    path("<slug:slug>/", PageDetailView.as_view(), name="page-detail"),
]
