"""Every stock change (catalog.events.variant_stock_changed) checks, after commit, for waiting sign-ups."""

from functools import partial

from django.db import transaction
from django.dispatch import receiver

from catalog.events import variant_stock_changed

from .services import restock_notify


@receiver(variant_stock_changed, dispatch_uid="restock-stock-changed")
def stock_changed(sender, variant_ids: list[int], using: str, **kwargs) -> None:
    transaction.on_commit(partial(restock_notify, variant_ids=variant_ids), using=using, robust=True)
