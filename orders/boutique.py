"""The boutique where "collect from our boutique" orders are picked up (settings, shown to the shopper)."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Boutique:
    address_lines: tuple[str, ...]
    hours: str
    ready: str


def boutique() -> Boutique:
    """The boutique's address, opening hours and when a collection order is ready (SHOP_BOUTIQUE_*)."""
    return Boutique(
        address_lines=tuple(settings.SHOP_BOUTIQUE_ADDRESS),
        hours=settings.SHOP_BOUTIQUE_HOURS,
        ready=settings.SHOP_BOUTIQUE_READY,
    )
