from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render, resolve_url
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.models import Product

from .services import wishlist_add, wishlist_entries, wishlist_remove


@login_required
def detail(request):
    return render(request, "wishlist/detail.html", {"entries": wishlist_entries(user=request.user)})


def _sign_in_first(next_url: str) -> HttpResponseRedirect:
    # Back to a page after signing in, never to the POST-only URL (a redirect cannot replay a POST).
    return HttpResponseRedirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': next_url})}")


@require_POST
def add(request, product_id: int):
    """Save a piece to the signed-in shopper's wishlist; anonymous shoppers are sent to sign in."""
    product = get_object_or_404(Product.objects.active(), pk=product_id)
    if not request.user.is_authenticated:
        return _sign_in_first(product.get_absolute_url())
    if wishlist_add(user=request.user, product=product):
        messages.success(request, f"{product.name} is saved to your wishlist.")
    return HttpResponseRedirect(product.get_absolute_url())


@require_POST
def remove(request, product_id: int):
    """Remove a piece from the shopper's own wishlist, then go back where the form said (or the list)."""
    if not request.user.is_authenticated:
        return _sign_in_first(reverse("wishlist:detail"))
    product = get_object_or_404(Product, pk=product_id)
    if wishlist_remove(user=request.user, product_id=product.pk):
        messages.success(request, f"{product.name} is no longer on your wishlist.")
    back = request.POST.get("next") == "product" and product.get_absolute_url()
    return HttpResponseRedirect(back or reverse("wishlist:detail"))
