"""Back-in-stock sign-ups, their notification when stock returns, and unsubscribing."""

import logging
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import ProductVariant, sellable_product_q

from .emails import restock_email_queue
from .models import RestockSignup
from .tokens import restock_unsubscribe_pk

logger = logging.getLogger("shop.restock")


class RestockError(Exception):
    """A sign-up the shopper can correct (the message is shown to them)."""


def restock_signup_create(*, variant_id: int, email: str) -> RestockSignup:
    """Record a request to be told when this sold-out variant is back; a repeat returns the first."""
    email = email.strip().lower()
    with transaction.atomic():
        # The variant's row lock orders this against a stock change: either the change commits first
        # and we refuse (it is back), or this sign-up commits first and the change's notifier sees it.
        variant = (
            ProductVariant.objects.sellable()  # the shop's one rule: a hidden piece takes no sign-ups
            .select_for_update(of=("self",))
            .filter(pk=variant_id)
            .first()
        )
        if variant is None:
            raise RestockError("That piece is no longer available.")
        if variant.stock > 0:
            raise RestockError("Good news: this piece is in stock now, you can add it to your bag.")
        pending = RestockSignup.objects.filter(variant=variant, email=email, notified_at__isnull=True).first()
        if pending is not None:
            return pending
        try:
            with transaction.atomic():
                return RestockSignup.objects.create(variant=variant, email=email)
        except IntegrityError:  # belt and braces: the unique constraint, should the lock ever be bypassed
            return RestockSignup.objects.get(variant=variant, email=email, notified_at__isnull=True)


def restock_notify(*, variant_ids: Iterable[int]) -> int:
    """Mark, and queue one e-mail for, every waiting sign-up whose variant now has stock; returns the count."""
    ids = sorted(set(variant_ids))
    if not ids:
        return 0
    with transaction.atomic():
        # skip_locked: two notifiers running at once share the sign-ups out; each is taken exactly once.
        due = list(
            RestockSignup.objects.select_for_update(of=("self",), skip_locked=True)
            .filter(
                # A piece hidden since the sign-up is not named in an e-mail; the sign-up waits until it
                # is on sale again (the one rule, catalog.models.sellable_product_q).
                sellable_product_q("variant__product__"),
                variant_id__in=ids,
                notified_at__isnull=True,
                variant__stock__gt=0,
                variant__is_active=True,
            )
            .select_related("variant__product")
        )
        if not due:
            return 0
        RestockSignup.objects.filter(pk__in=[s.pk for s in due]).update(notified_at=timezone.now())
        for signup in due:
            restock_email_queue(signup=signup)  # a durable row in this transaction; sent after commit
    logger.info("restock_notified", extra={"restock_signups": len(due)})
    return len(due)


def restock_unsubscribe(*, token: str) -> bool:
    """Delete the sign-up a valid token names; False for a forged or mangled token. Repeats are harmless."""
    pk = restock_unsubscribe_pk(token=token)
    if pk is None:
        return False
    RestockSignup.objects.filter(pk=pk).delete()
    return True
