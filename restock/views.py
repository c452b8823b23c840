from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
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
    # ASCII digits only (isdigit() also takes "²" and "①", which int() refuses), and a bigint at most.
    if variant_pk.isascii() and variant_pk.isdigit() and len(variant_pk) <= 18:
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


# The token of the unsubscribe link being confirmed: kept here, never in a URL the logs would write.
SESSION_TOKEN = "restock_unsubscribe_token"  # noqa: S105 - a session key, not a secret


@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str = ""):
    """The e-mail's link (``?t=``) puts its token in the session and redirects to the token-free page.

    There, GET asks to confirm (mail scanners follow links) and POST deletes the sign-up. Links sent
    before the token moved to the query string carry it in the path (redacted in the logs): a GET is
    exchanged the same way, a POST from a confirm page rendered back then still deletes.
    """
    linked = token or request.GET.get("t", "")
    if linked:
        if restock_unsubscribe_pk(token=linked) is None:
            raise Http404("Unknown unsubscribe link")
        if request.method == "POST":
            restock_unsubscribe(token=linked)
            return render(request, "restock/unsubscribe.html", {"done": True})
        request.session[SESSION_TOKEN] = linked
        return redirect("restock:unsubscribe")
    held = request.session.get(SESSION_TOKEN, "")
    if not isinstance(held, str) or restock_unsubscribe_pk(token=held) is None:
        # No link behind this page (opened directly, or already used in this browser): say so plainly.
        return render(request, "restock/unsubscribe.html", {"expired": True}, status=404)
    if request.method == "POST":
        restock_unsubscribe(token=held)
        del request.session[SESSION_TOKEN]
        return render(request, "restock/unsubscribe.html", {"done": True})
    return render(request, "restock/unsubscribe.html", {"done": False})
