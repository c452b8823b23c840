"""The hold cap (issue #20): what orders waiting for payment may reserve, per client, checked atomically.

An unpaid order keeps its pieces off sale for minutes (card) or days (bank transfer, on collection),
so without a cap one visitor could hold a whole collection with orders nobody pays. Three scopes are
summed, each in pieces and in value (goods before delivery), over every order waiting for payment:

* the client address (``Order.client_key``: an IPv4 address, or an IPv6 prefix of
  SHOP_HOLD_IPV6_PREFIX bits, /56 by default, since UK providers hand a household a /56 and a phone a
  /64), however many fresh sessions and e-mail addresses it uses. An address can be shared (a mobile
  network's NAT, an office), so a card checkout counts only the address's card holds, which lapse in
  minutes: a neighbour's bank-transfer orders never block someone else's card payment for days;
* the browser session (the numbers it placed, ``session_orders``);
* the signed-in account. Guest orders never count against an e-mail address: anyone can type someone
  else's, and three cheap guest orders would then lock that customer out of checkout for days. An
  account's orders are proven to be its owner's, so the per-owner cap counts those only.

One order may be worth more than SHOP_HOLD_MAX_VALUE (a jeweller sells pieces above it): the value cap
bounds what a client holds across orders, so it refuses only an order that joins other unpaid ones.
The piece cap bounds every order, its own included.

Atomic: ``order_place`` calls :func:`holds_lock` inside its transaction, before it locks any variant,
and only then sums. On Postgres the lock is a transaction-scoped advisory lock per address and per
account (keys sorted, so two checkouts never wait on each other crosswise), released at commit: two
checkouts from one address queue, and the second sums the first's order. One session's checkouts
already queue on the cart row (one session, one cart). SQLite (``make run``) runs every transaction
``IMMEDIATE`` (settings/dev.py): writers are serialised at BEGIN, so it needs no lock of its own.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, DecimalField, F, Q, Sum, Value

from catalog.money import format_money

from .models import MONEY, Order, OrderStatus, PaymentMethod

security_log = logging.getLogger("shop.security")

OFFLINE_METHODS = (PaymentMethod.BANK_TRANSFER, PaymentMethod.ON_COLLECTION)


class HoldError(Exception):
    """A checkout the hold cap refuses; ``str(error)`` says what to do (``order_place`` raises it as an OrderError)."""


@dataclass(frozen=True)
class Held:
    """What one scope's unpaid orders hold."""

    orders: int = 0
    pieces: int = 0
    value: Decimal = Decimal("0.00")


def client_key_for(*, client_ip: str | None) -> str:
    """The address the cap counts by: IPv4 as is, IPv6 as its SHOP_HOLD_IPV6_PREFIX network ("" for none or garbage)."""
    try:
        address = ipaddress.ip_address(client_ip or "")
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/{settings.SHOP_HOLD_IPV6_PREFIX}", strict=False))
    return str(address)


def _lock_id(name: str) -> int:
    # A signed 64-bit number from the scope's name: Postgres advisory locks are keyed by a bigint.
    return int.from_bytes(hashlib.sha256(f"orders.hold:{name}".encode()).digest()[:8], "big", signed=True)


def holds_lock(*, client_key: str, user_id: int | None) -> None:
    """Take the placement transaction's advisory locks for this address and account (one round trip)."""
    names = [f"ip:{client_key}"] if client_key else []
    if user_id is not None:
        names.append(f"user:{user_id}")
    if not names or connection.vendor != "postgresql":
        return
    ids = sorted(_lock_id(name) for name in names)  # one order everywhere: no crosswise wait
    with connection.cursor() as cursor:
        # The select list is evaluated left to right: the locks are taken in the sorted order.
        cursor.execute("SELECT " + ", ".join(["pg_advisory_xact_lock(%s)"] * len(ids)), ids)


def holds_totals(
    *, client_key: str, session_orders: Sequence[str], user_id: int | None, payment_method: str
) -> dict[str, Held]:
    """What each scope's unpaid orders hold, in one aggregate query (whatever the number of lines or orders).

    For a card checkout the address scope counts card holds only (see the module's docstring)."""
    scopes: dict[str, Q] = {}
    if client_key:
        scopes["address"] = Q(client_key=client_key)
        if payment_method == PaymentMethod.CARD:
            scopes["address"] &= Q(payment_method=PaymentMethod.CARD)
    if session_orders:
        scopes["session"] = Q(number__in=list(session_orders))
    if user_id is not None:
        scopes["account"] = Q(user_id=user_id)
    if not scopes:
        return {}
    value = F("subtotal") + F("engraving_total")
    aggregates = {}
    for name, scope in scopes.items():
        aggregates[f"{name}_orders"] = Count("pk", filter=scope)
        aggregates[f"{name}_pieces"] = Sum("pieces", filter=scope, default=0)
        aggregates[f"{name}_value"] = Sum(
            value, filter=scope, default=Value(Decimal("0.00")), output_field=DecimalField(**MONEY)
        )
    anywhere = Q()
    for scope in scopes.values():
        anywhere |= scope
    row = Order.objects.filter(anywhere, status=OrderStatus.AWAITING_PAYMENT).aggregate(**aggregates)
    return {
        name: Held(orders=row[f"{name}_orders"], pieces=row[f"{name}_pieces"], value=Decimal(row[f"{name}_value"]))
        for name in scopes
    }


def holds_check(*, held: dict[str, Held], pieces: int, value: Decimal) -> None:
    """Refuse an order of ``pieces`` worth ``value`` that would take any scope over the caps."""
    max_pieces, max_value = settings.SHOP_HOLD_MAX_PIECES, settings.SHOP_HOLD_MAX_VALUE
    for name in ("session", "account"):  # the long-standing count cap; an address may be a whole office
        if name in held and held[name].orders >= settings.SHOP_MAX_UNPAID_ORDERS:
            raise HoldError(
                f"You already have {held[name].orders} orders waiting for payment. Please pay for one of them, "
                "or contact us and we will release it, before placing another."
            )
    if pieces > max_pieces:
        raise HoldError(
            f"An order waiting for payment can hold at most {max_pieces} pieces, and this bag holds {pieces}. "
            "Please take some pieces out of your bag, or contact us for a larger order."
        )
    for scope in held.values():
        # The value cap counts only when other unpaid orders are already held: one dear piece is a sale.
        over_value = scope.orders > 0 and scope.value + value > max_value
        if scope.pieces + pieces > max_pieces or over_value:
            raise HoldError(
                f"Your orders waiting for payment already hold {scope.pieces} pieces worth "
                f"{format_money(scope.value)}; together they may hold at most {max_pieces} pieces worth "
                f"{format_money(max_value)}. Please pay for an order waiting for payment, take some pieces "
                "out of your bag, or contact us and we will help."
            )


def holds_alert(*, order: Order, held: dict[str, Held]) -> None:
    """Log ``large_unpaid_hold`` (shop.security, alarmed) when an offline order leaves its client holding a lot."""
    if order.payment_method not in OFFLINE_METHODS:
        return  # a card order lapses in minutes; the cap alone bounds it
    pieces = max([s.pieces for s in held.values()] + [0]) + order.pieces
    value = max([s.value for s in held.values()] + [Decimal("0.00")]) + order.goods_total
    if pieces < settings.SHOP_HOLD_ALERT_PIECES and value < settings.SHOP_HOLD_ALERT_VALUE:
        return
    security_log.warning(
        "large_unpaid_hold",
        extra={
            "event": "large_unpaid_hold",
            "order_number": order.number,  # never the e-mail: staff look the order up
            "payment_method": order.payment_method,
            "held_pieces": pieces,
            "held_value": str(value),
            "one_of_a_kind": order.one_of_a_kind,
        },
    )
