"""`make run`'s e-mail worker on SQLite: the confirmation queued by a checkout is printed by the worker
(console backend), once, and the Mail row is marked sent. The same command line as the Makefile's."""

import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from cart.models import Cart
from cart.services import cart_add_line
from mailqueue.models import Mail, MailStatus
from orders.services import ShippingAddress, order_place
from tests.factories import ProductVariantFactory

REPO = Path(__file__).resolve().parents[1]


def makefile_worker_command() -> list[str]:
    """The worker line of `make run`, with our interpreter, in --batch mode so it ends when done."""
    makefile = (REPO / "Makefile").read_text()
    (line,) = re.findall(r"\$\(PYTHON\) (manage\.py db_worker [^&]*)&", makefile)
    return [sys.executable, *shlex.split(line), "--batch"]


@pytest.mark.django_db(transaction=True)
def test_make_runs_worker_prints_the_confirmation_once():
    variant = ProductVariantFactory(stock=2)
    cart = Cart.objects.create()
    cart_add_line(cart=cart, variant=variant, quantity=1, engraving="")
    address = ShippingAddress(full_name="Ada", address_line1="1 Road", city="Bath", postcode="BA1 1AA", country="GB")
    order = order_place(
        cart=cart,
        checkout_token=uuid.uuid4(),
        email="ada@example.com",
        shipping_address=address,
        shipping_method="standard",
        gift_message="",
        user=None,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {
        "DJANGO_SETTINGS_MODULE": "jewelry_site.settings.dev",
        "DJANGO_DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
    }
    result = subprocess.run(  # noqa: S603 (our own interpreter and the Makefile's command)
        makefile_worker_command(), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"Subject: Maison Aurelia: your order {order.number}") == 1
    assert Mail.objects.get().status == MailStatus.SENT
