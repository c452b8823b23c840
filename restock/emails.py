"""The one place a back-in-stock e-mail is sent from (restock_email_send).

When the durable queue (mailqueue.services.mail_send) is on main, this body becomes one mail_send
call, made inside restock_notify's transaction instead of on commit (see README "Back in stock")."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from .models import RestockSignup
from .tokens import restock_unsubscribe_token


def restock_email_send(*, signup: RestockSignup) -> None:
    """Write to the shopper that the variant they asked about is back, with an unsubscribe link."""
    variant = signup.variant
    base = settings.SHOP_SITE_URL.rstrip("/")
    context = {
        "variant": variant,
        "product": variant.product,
        "product_url": base + variant.product.get_absolute_url(),
        "unsubscribe_url": base
        + reverse("restock:unsubscribe", kwargs={"token": restock_unsubscribe_token(signup=signup)}),
        "SHOP_NAME": settings.SHOP_NAME,
    }
    message = EmailMultiAlternatives(
        subject=f"{settings.SHOP_NAME}: {variant.product.name} is back in stock",
        body=render_to_string("restock/email/back_in_stock.txt", context),
        to=[signup.email],
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>"},
    )
    message.attach_alternative(render_to_string("restock/email/back_in_stock.html", context), "text/html")
    message.send()
