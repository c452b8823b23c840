"""The one place a back-in-stock e-mail is written: queued durably through mailqueue.mail_send.

Called inside restock_notify's transaction, so a sign-up is marked notified if and only if its e-mail
is queued; the mail worker sends it after commit, with the queue's retries."""

from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode

from mailqueue.services import mail_send
from shop_text import text_one_line

from .models import RestockSignup
from .tokens import restock_unsubscribe_token

MAIL_KIND = "restock"


def restock_email_queue(*, signup: RestockSignup) -> None:
    """Queue the e-mail telling the shopper that the variant they asked about is back, with an unsubscribe link."""
    variant = signup.variant
    base = settings.SHOP_SITE_URL.rstrip("/")
    token = restock_unsubscribe_token(signup=signup)
    mail_send(
        to=signup.email,
        # Flattened: a name stored before the one-line rule (or written past it) must never fail the send.
        subject=text_one_line(f"{settings.SHOP_NAME}: {variant.product.name} is back in stock"),
        template="restock/email/back_in_stock",
        context={
            "variant": variant,
            "product": variant.product,
            "product_url": base + variant.product.get_absolute_url(),
            # The token rides in the query string, which no log writes (restock/views.py unsubscribe).
            "unsubscribe_url": base + reverse("restock:unsubscribe") + "?" + urlencode({"t": token}),
        },
        kind=MAIL_KIND,
        reference=f"restock-{signup.pk}",
    )
