"""Account pages: the profile and saved shipping addresses (owner only)."""

from django.contrib import messages
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from . import services
from .auth_views import OIDC_BACKEND, oidc_enabled
from .forms import AddressForm
from .models import Address
from .selectors import address_list_for


def _order_history_url() -> str | None:
    # The orders app is optional from here: accounts never imports it (see shared/style.md).
    try:
        return reverse("orders:order-list")
    except NoReverseMatch:
        return None


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    addresses = address_list_for(user=request.user)
    context = {
        "default_address": next((a for a in addresses if a.is_default), None),
        "address_count": len(addresses),
        "order_history_url": _order_history_url(),
        "signed_in_with_provider": request.session.get(BACKEND_SESSION_KEY) == OIDC_BACKEND,
        "can_change_password": not oidc_enabled() and request.user.has_usable_password(),
    }
    return render(request, "accounts/profile.html", context)


@login_required
def address_list(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/address_list.html", {"addresses": address_list_for(user=request.user)})


def _own_address(request: HttpRequest, pk: int) -> Address:
    # Someone else's address is a 404, not a 403: its existence is not ours to confirm.
    return get_object_or_404(Address, pk=pk, user=request.user)


@login_required
def address_create(request: HttpRequest) -> HttpResponse:
    form = AddressForm(request.POST or None, initial={"full_name": request.user.get_full_name()})
    if request.method == "POST" and form.is_valid():
        services.address_create(
            user=request.user, data=form.cleaned_data, make_default=form.cleaned_data["make_default"]
        )
        messages.success(request, "Address saved.")
        return redirect("accounts:address-list")
    return render(request, "accounts/address_form.html", {"form": form, "creating": True})


@login_required
def address_update(request: HttpRequest, pk: int) -> HttpResponse:
    address = _own_address(request, pk)
    form = AddressForm(request.POST or None, instance=address, initial={"make_default": address.is_default})
    if request.method == "POST" and form.is_valid():
        try:
            services.address_update(
                address=address, data=form.cleaned_data, make_default=form.cleaned_data["make_default"]
            )
        except Address.DoesNotExist:  # removed in another tab meanwhile
            messages.error(request, "That address has just been removed.")
        else:
            messages.success(request, "Address updated.")
        return redirect("accounts:address-list")
    return render(request, "accounts/address_form.html", {"form": form, "address": address, "creating": False})


@login_required
def address_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET asks for confirmation; POST deletes."""
    address = _own_address(request, pk)
    if request.method == "POST":
        services.address_delete(address=address)
        messages.success(request, "Address removed.")
        return redirect("accounts:address-list")
    return render(request, "accounts/address_confirm_delete.html", {"address": address})


@login_required
@require_POST
def address_make_default(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        services.address_set_default(address=_own_address(request, pk))
    except Address.DoesNotExist:  # removed in another tab between the lookup and the change
        messages.error(request, "That address has just been removed.")
    else:
        messages.success(request, "Default address changed.")
    return redirect("accounts:address-list")
