"""A URLconf for one test: a view that fails the way an unexpected checkout error would."""

from django.http import HttpResponse
from django.urls import path


def boom(request):
    if request.method == "POST":
        raise RuntimeError("the database went away mid-checkout")
    return HttpResponse("ok")


urlpatterns = [path("boom/", boom, name="boom")]
