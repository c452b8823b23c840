"""Read-only account queries, including what other apps may ask of accounts."""

from .models import POSTAL_ADDRESS_FIELDS, Address

# The order's shipping fields that a saved address fills in (both models share PostalAddress).
CHECKOUT_FIELDS = POSTAL_ADDRESS_FIELDS


def address_list_for(*, user) -> list[Address]:
    """The user's saved addresses, default first."""
    return list(Address.objects.filter(user=user))


def address_default_for(*, user) -> Address | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Address.objects.filter(user=user, is_default=True).first()


def address_checkout_initial(*, user) -> dict[str, str]:
    """Initial checkout values from the user's default saved address ({} when there is none).

    For the checkout form (orders): ``initial = {**from_last_order, **address_checkout_initial(user=user)}``
    or the other way round, as the checkout prefers.
    """
    address = address_default_for(user=user)
    if address is None:
        return {}
    return {field: getattr(address, field) for field in CHECKOUT_FIELDS}
