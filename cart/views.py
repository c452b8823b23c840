"""Cart pages: thin views that validate, call a cart service and redirect with a message (or show the
product page again with the refused choice kept)."""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from catalog.models import SELLABLE_RELATED
from catalog.views import product_page_response

from .cart import cart_for_request, cart_get_or_create_for_request, cart_lines, cart_summary
from .forms import AddToCartForm, CartLineQuantityForm, first_error
from .models import CartLine
from .services import CartError, cart_add_line, cart_reconcile, cart_remove_line, cart_update_line


def _back_url(request: HttpRequest) -> str:
    """The hidden ``next`` URL if it stays on this site, else the cart page."""
    candidate = request.POST.get("next", "")
    # A path on this site only: redirect() would treat anything else (e.g. "١٢٣") as a view name.
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("cart:detail")


@require_safe
def cart_detail(request: HttpRequest) -> HttpResponse:
    """The bag: lines are checked against the catalogue first and any adjustment is explained."""
    cart = cart_for_request(request)
    lines = cart_lines(cart)
    for note in cart_reconcile(lines=lines):
        messages.warning(request, note)
    summary = cart_summary(cart, lines=lines)
    rows = [
        (item, CartLineQuantityForm(initial={"quantity": item.quantity}, max_quantity=item.max_quantity))
        for item in summary.items
    ]
    context = {"summary": summary, "rows": rows, "free_shipping_threshold": settings.SHOP_FREE_SHIPPING_THRESHOLD}
    return render(request, "cart/detail.html", context)


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    """The product page's "Add to bag" form posts here.

    A refusal shows the product page again with every choice kept and the message next to its field
    (status 400); only when there is no page to show (unknown or withdrawn piece) does it redirect
    with a message. Success goes back with the chosen variant still selected."""
    form = AddToCartForm(request.POST)
    back = _back_url(request)
    if not form.is_valid():
        return _refused(request, form, back=back)
    variant = form.cleaned_data["variant"]
    cart = cart_get_or_create_for_request(request)
    try:
        cart_add_line(
            cart=cart,
            variant=variant,
            quantity=form.cleaned_data["quantity"],
            engraving=form.cleaned_data["engraving"],
        )
    except CartError as error:
        # The stock or the rules changed between the form check and the locked write.
        form.add_error(_field_of(str(error)), str(error))
        return _refused(request, form, back=back)
    messages.success(
        request, f"{variant.product.name} ({variant.options_label}) is in your bag.", extra_tags="bag-added"
    )
    product_url = variant.product.get_absolute_url()
    if back == product_url:
        back = f"{product_url}?{urlencode({'variant': variant.pk})}"
    return redirect(back)


def _field_of(message: str) -> str | None:
    """The add form's field a service refusal is about, so the page shows it there."""
    if "ngrav" in message:
        return "engraving"
    if "between 1 and" in message:
        return "quantity"
    return None


def _refused(request: HttpRequest, form: AddToCartForm, *, back: str) -> HttpResponse:
    product = form.product_obj
    if product is not None:
        try:
            return product_page_response(request, slug=product.slug, add_form=form, status=400)
        except Http404:
            pass
    messages.error(request, first_error(form))
    return redirect(back)


def _own_line(request: HttpRequest, line_id: int) -> CartLine:
    """A line of this shopper's cart, else 404 (another cart's line ids are not revealed)."""
    cart = cart_for_request(request)
    if cart is None:
        raise Http404("No cart")
    return get_object_or_404(CartLine.objects.select_related(f"variant__{SELLABLE_RELATED}"), pk=line_id, cart=cart)


@require_POST
def cart_line_update(request: HttpRequest, line_id: int) -> HttpResponse:
    """Change a line's quantity; 0 removes it."""
    line = _own_line(request, line_id)
    form = CartLineQuantityForm(request.POST)
    if not form.is_valid():
        messages.error(request, first_error(form))
        return redirect("cart:detail")
    quantity = form.cleaned_data["quantity"]
    if quantity == 0:
        cart_remove_line(line=line)
        messages.success(request, f"{line.variant.product.name} has been removed from your bag.")
        return redirect("cart:detail")
    try:
        cart_update_line(line=line, quantity=quantity)
    except CartError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your bag has been updated.")
    return redirect("cart:detail")


@require_POST
def cart_line_remove(request: HttpRequest, line_id: int) -> HttpResponse:
    line = _own_line(request, line_id)
    cart_remove_line(line=line)
    messages.success(request, f"{line.variant.product.name} has been removed from your bag.")
    return redirect("cart:detail")
