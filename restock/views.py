from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.decorators import ratelimit

from catalog.models import ProductVariant

from .forms import RestockSignupForm
from .services import RestockError, restock_signup_create, restock_unsubscribe
from .tokens import restock_unsubscribe_pk


def _signup_rate(group, request) -> str:
    return settings.SHOP_RESTOCK_SIGNUP_RATE


# "ip" is read through RATELIMIT_IP_META_KEY (jewelry_site.client_address.client_ip, the one helper).
@require_POST
@ratelimit(group="restock-signup", key="ip", rate=_signup_rate, method="POST", block=False)
def signup(request):
    """Record a back-in-stock sign-up and go back to the product page with a message."""
    variant_pk = request.POST.get("variant", "")
    variant = None
    if variant_pk.isdigit() and len(variant_pk) <= 18:  # a bigint; longer digit strings are no piece of ours
        # The shop's one "sellable" rule, before anything is rendered: a hidden piece (its category or an
        # ancestor switched off) is a plain 404 that names nothing, and takes no sign-up.
        variant = ProductVariant.objects.sellable().select_related("product").filter(pk=int(variant_pk)).first()
    if variant is None:
        raise Http404("No such piece")
    context = {"product": variant.product, "variant": variant}
    if getattr(request, "limited", False):
        return render(request, "restock/signup_result.html", {**context, "limited": True}, status=429)
    form = RestockSignupForm(request.POST)
    if not form.is_valid():
        return render(request, "restock/signup_result.html", {**context, "form": form}, status=400)
    try:
        restock_signup_create(variant_id=variant.pk, email=form.cleaned_data["email"])
    except RestockError as error:
        messages.error(request, str(error))
    else:
        # The same words for a new and a repeated sign-up: nothing tells whether an address was known.
        messages.success(request, f"We will e-mail you once when {variant.options_label} is back in stock.")
    return HttpResponseRedirect(variant.product.get_absolute_url())


@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    """GET asks to confirm (mail scanners follow links); POST deletes the sign-up."""
    if restock_unsubscribe_pk(token=token) is None:
        raise Http404("Unknown unsubscribe link")
    if request.method == "POST":
        restock_unsubscribe(token=token)
        return render(request, "restock/unsubscribe.html", {"done": True})
    return render(request, "restock/unsubscribe.html", {"done": False, "token": token})
