"""The state machine: shoppers, Stripe's webhooks, the timers and staff on three variants (stock 1, 1 and 3),
with the money, stock and e-mail invariants checked after every step.

Everything is real: Postgres (run with ``django_db(transaction=True)``, so row locks and on-commit work as
in production), localstripe over HTTP for cards, 3-D Secure and refunds, the webhook view with signed
events. Webhook events are made the way Stripe makes them (the intent's state read back from localstripe
when it changed) and kept in order, so hypothesis delivers any of them, late, twice or out of order.
A Stripe outage is a settings change for the length of one step (the API base pointed at a closed port).

Bookkeeping the invariants rely on (design, so a failure says which fact broke):
* stock: every piece the shop ever had came in through a ``StockAdjustment`` (opening stock included), so
  per variant ``stock + pieces on live orders + pieces shipped or delivered == sum of adjustments``;
* money: an intent is *settled* once our ``Payment`` row says the webhook acted on its success (or it
  never succeeded at Stripe); a capture whose webhook has not come yet belongs to no status. Over settled
  intents, captured minus refunded at Stripe equals the same sum from our rows and what the status says:
  0 unpaid or cancelled, the total less staff's partial refunds when paid by card, 0 when paid offline
  (an order with a pending or failed refund is exempt until the refund timer, which must settle it);
* e-mails: one confirmation; a refund e-mail only for a refund Stripe made, and the order's history adds
  up to what Stripe refunded; the last status e-mail names the order's status; "payment received" only
  for money Stripe took or staff recorded.

Not covered here (each has its own tests): steps run one at a time, so races between a webhook and the
expiry job or two staff are tests/payments and tests/orders' threaded tests; Stripe's own retry schedule
is only what the webhook rule's picks model (any event, any number of times, any order); the "earlier
failure" event is made up from a later intent state (localstripe never sends one for a card it charged);
asynchronous ("processing") payments, manual capture and refunds made in Stripe's dashboard are not
played; e-mails are checked as queued (mailqueue rows), not as delivered by SMTP.
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections import defaultdict
from contextlib import nullcontext
from datetime import timedelta
from decimal import Decimal

import requests
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule

from cart.models import Cart
from cart.services import CartError, cart_add_line
from catalog.models import ProductVariant, StockAdjustment, StockReason
from catalog.services.product_import import product_import_csv
from catalog.services.stock import StockAdjustmentError, variant_stock_adjust
from loopback import free_port
from loopback.localstripe import GOOD_CARD, LocalStripe
from orders.models import EventReason, Order, OrderLine, OrderStatus, PaymentMethod, ShippingMethod
from orders.services import OrderError, ShippingAddress, order_place
from orders.workflow import order_transition
from payments.expiry import orders_expire_overdue
from payments.models import Payment, Refund, RefundSource, RefundStatus
from payments.refunds import RefundError, payment_refund, payment_refundable
from payments.services import PaymentError, payment_charge, payment_setup_start
from tests.factories import ProductFactory, ProductVariantFactory
from tests.payments.helpers import DECLINED_AT_CHARGE, NEEDS_3DS, authenticate_payment, intent_event, post_event
from tests.payments.lost_answers import answers_lost

from . import actions
from .books import Books, StripeView, minor, order_books

OPENING_STOCK = (1, 1, 3)
PRICES = (Decimal("120.00"), Decimal("1150.00"), Decimal("45.50"))
LIVE = (OrderStatus.AWAITING_PAYMENT, OrderStatus.PAID, OrderStatus.READY_FOR_COLLECTION)
SOLD = (OrderStatus.SHIPPED, OrderStatus.DELIVERED)
PAID_LIKE = (OrderStatus.PAID, OrderStatus.READY_FOR_COLLECTION, *SOLD)
# A step's refund requests: answered, never reaching Stripe, or made by Stripe with the answer lost.
REFUND_FAULTS = st.sampled_from(("answered", "unreached", "lost"))
# The e-mail the shopper last had about the order's status, for each status (delivered sends none).
LAST_STATUS_MAIL = {
    OrderStatus.AWAITING_PAYMENT: {None},
    OrderStatus.PAID: {"order_paid"},
    OrderStatus.READY_FOR_COLLECTION: {"order_ready"},
    OrderStatus.SHIPPED: {"order_shipped"},
    OrderStatus.DELIVERED: {"order_shipped", "order_ready"},
    OrderStatus.CANCELLED: {"order_cancelled"},
}
STATUS_MAIL_KINDS = ("order_paid", "order_ready", "order_shipped", "order_cancelled")
# Truncated before each example: everything an example writes (users stay: the staff member is reused).
RESET_APPS = ("catalog", "cart", "orders", "payments", "mailqueue", "django_tasks_db", "restock", "wishlist")
ADDRESS = ShippingAddress(
    full_name="Ada Lovelace", address_line1="12 St James's Square", city="London", postcode="SW1Y 4JH", country="GB"
)
SHOPPERS = ("ada@example.com", "grace@example.com", "mary@example.com")
PARTIAL_REFUND = Decimal("10.00")
CARD = {"good": GOOD_CARD, "declined": DECLINED_AT_CHARGE, "3ds": NEEDS_3DS}
# What the shopper does on the payment page right after checkout ("none": leaves it).
CARDS = st.sampled_from(["good", "3ds", "declined", "none"])
# Which of the events (or 3-D Secure prompts) so far, modulo how many there are; shrinks to the first.
PICK = st.integers(0, 7)
# A bag: one or two of the three variants, one or two pieces each.
BAG = st.lists(st.tuples(st.integers(0, 2), st.integers(1, 2)), min_size=1, max_size=2, unique_by=lambda t: t[0])


def tables_reset() -> None:
    """Empty every table an example writes: DELETE, children first (a TRUNCATE of ~30 tables costs 0.7 s)."""
    models = [
        model
        for config in apps.get_app_configs()
        if config.label in RESET_APPS
        for model in config.get_models(include_auto_created=True)
    ]
    ordered: list = []
    visiting: set = set()

    def visit(model) -> None:  # every model that points at this one is emptied before it
        if model in ordered or model in visiting:
            return
        visiting.add(model)
        for child in models:
            if child is not model and any(
                f.related_model is model for f in child._meta.concrete_fields if f.is_relation
            ):
                visit(child)
        ordered.append(model)

    for model in models:
        visit(model)
    with connection.cursor() as cursor:
        for model in ordered:
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608


class MoneyStockMachine(RuleBasedStateMachine):
    """Shoppers, webhooks, timers and staff on one small catalogue; see the module docstring for the invariants."""

    orders = Bundle("orders")
    card_orders = Bundle("card_orders")
    # Orders a webhook has just made paid by card: staff refund and cancel these, so those rules never pick an
    # order with nothing to refund (drawn from card_orders they mostly did, and reverted refund fixes went unseen).
    paid_card_orders = Bundle("paid_card_orders")

    def __init__(self) -> None:
        super().__init__()
        self.stripe = StripeView(settings.STRIPE_API_BASE)
        self.localstripe = LocalStripe(url=settings.STRIPE_API_BASE)
        self.variants: list[int] = []
        self.intent_order: dict[str, int] = {}  # every intent we created -> its order's pk
        self.events: list[dict] = []  # every event Stripe made, in order; webhook delivers any, any number of times
        self.prompts_3ds: list[str] = []  # 3-D Secure prompts the shoppers have not answered
        self.staff_cancelled: set[int] = set()
        self.staff = None

    # --- set-up ---------------------------------------------------------------------------------

    @initialize()
    def catalogue(self) -> None:
        """A fresh database for each example: three variants whose opening stock is itself an adjustment."""
        tables_reset()
        self.staff, _ = get_user_model().objects.get_or_create(
            username="machine-staff", defaults={"email": "staff@example.com", "is_staff": True, "is_superuser": True}
        )
        for price, opening in zip(PRICES, OPENING_STOCK, strict=True):
            variant = ProductVariantFactory(product=ProductFactory(), price=price, stock=0)
            variant_stock_adjust(variant_id=variant.pk, change=opening, reason=StockReason.OPENING, actor=self.staff)
            self.variants.append(variant.pk)

    # --- shoppers ---------------------------------------------------------------------------------

    def _place(self, *, lines, shopper: int, payment_method: str, shipping_method: str) -> int | None:
        cart = Cart.objects.create()
        try:
            for index, quantity in lines:
                cart_add_line(cart=cart, variant=ProductVariant.objects.get(pk=self.variants[index]), quantity=quantity)
            order = order_place(
                cart=cart,
                checkout_token=uuid.uuid4(),
                email=SHOPPERS[shopper],
                shipping_address=ADDRESS,
                shipping_method=shipping_method,
                gift_message="",
                user=None,
                payment_method=payment_method,
            )
        except (CartError, OrderError):
            return None  # sold out, too many unpaid orders, a cap: the shopper is told and nothing changed
        return order.pk

    @rule(
        target=orders,
        lines=BAG,
        shopper=st.integers(0, 2),
        on_collection=st.booleans(),
    )
    def place_offline_order(self, lines, shopper, on_collection):
        """Add to the bag and check out paying by bank transfer (delivered) or on collection (collected)."""
        method = PaymentMethod.ON_COLLECTION if on_collection else PaymentMethod.BANK_TRANSFER
        shipping = ShippingMethod.COLLECT if on_collection else ShippingMethod.STANDARD
        pk = self._place(lines=lines, shopper=shopper, payment_method=method, shipping_method=shipping)
        return multiple() if pk is None else pk

    @rule(
        targets=(orders, card_orders),
        lines=BAG,
        shopper=st.integers(0, 2),
        collect=st.booleans(),
        card=CARDS,
    )
    def place_card_order(self, lines, shopper, collect, card):
        """Add to the bag, check out paying by card (delivered or collected) and try the card on the payment page."""
        shipping = ShippingMethod.COLLECT if collect else ShippingMethod.STANDARD
        pk = self._place(lines=lines, shopper=shopper, payment_method=PaymentMethod.CARD, shipping_method=shipping)
        if pk is None:
            return multiple()
        self._pay(pk, card)
        return pk

    @rule(order=card_orders, card=st.sampled_from(["good", "3ds", "declined"]))
    def pay_by_card(self, order, card):
        """The payment page again (another tab, another card, after a decline or an abandoned 3-D Secure)."""
        self._pay(order, card)

    @rule(order=card_orders)
    def pay_in_two_tabs(self, order):
        """Two tabs, both paid before any webhook: the second payment must go back (automatically, and again by
        the refund timer if Stripe was down when the webhook asked)."""
        self._pay(order, "good")
        self._pay(order, "good")

    def _pay(self, order: int, card: str) -> None:
        """The browser's part (SetupIntent confirmed with the card) then our charge call. A payment that
        succeeds makes its webhook event; 3-D Secure leaves the shopper a prompt to answer."""
        if card == "none":
            return  # the shopper leaves the payment page
        instance = Order.objects.get(pk=order)
        try:
            method = self.localstripe.card_setup(setup_secret=payment_setup_start(order=instance), number=CARD[card])
            result = payment_charge(order=instance, payment_method_id=method)
        except PaymentError:
            return  # not payable any more, or Stripe unreachable: nothing charged
        new = set(Payment.objects.filter(order_id=order).values_list("intent_id", flat=True)) - set(self.intent_order)
        for intent_id in new:
            self.intent_order[intent_id] = order
        if card == "declined":
            assert result.status == "declined", result
        elif result.status == "succeeded":
            self.events.append(self._event_for(new.pop()))
        elif result.status == "requires_action":
            self.prompts_3ds.append(result.client_secret)

    def _event_for(self, intent_id: str) -> dict:
        """The event Stripe makes when an intent changes, from its state now."""
        intent = self.stripe.intent(intent_id)
        kind = "payment_intent.succeeded" if intent["status"] == "succeeded" else "payment_intent.payment_failed"
        return intent_event(intent, type=kind)

    @precondition(lambda self: self.prompts_3ds)
    @rule(prompt=PICK, success=st.booleans())
    def authenticate_3ds(self, prompt, success):
        """The shopper answers (or abandons) a 3-D Secure prompt; a cancelled order's card must not be chargeable."""
        secret = self.prompts_3ds.pop(prompt % len(self.prompts_3ds))
        intent_id = secret.split("_secret_")[0]
        order = Order.objects.get(pk=self.intent_order[intent_id])
        status_before = order.status
        try:
            answer = authenticate_payment(self.localstripe, client_secret=secret, success=success)
        except requests.HTTPError:
            return  # the intent was cancelled at Stripe: nothing to authenticate
        assert not (success and answer["status"] == "succeeded" and status_before == OrderStatus.CANCELLED), (
            f"order {order.number} was cancelled ({self._cancel_story(order)}) but its card could still be charged"
        )
        self.events.append(self._event_for(intent_id))

    # --- Stripe's webhooks ------------------------------------------------------------------------

    @precondition(lambda self: self.events)
    @rule(target=paid_card_orders, event=PICK, stripe_down=st.booleans())
    def webhook(self, event, stripe_down=False):
        """Deliver one of the events Stripe made (by index, modulo how many): in order, late, again (same id)
        or out of order; with ``stripe_down``, while our calls to Stripe fail (an automatic refund, say)."""
        chosen = self.events[event % len(self.events)]
        was_paid = self._paid_by_card()
        with self._stripe(down=stripe_down):
            self._deliver(chosen)
        order = self.intent_order.get(chosen["data"]["object"]["id"])
        return order if order in self._paid_by_card() - was_paid else multiple()

    def _paid_by_card(self) -> set[int]:
        return set(
            Order.objects.filter(
                status=OrderStatus.PAID, payment_method=PaymentMethod.CARD, payments__succeeded_at__isnull=False
            ).values_list("pk", flat=True)
        )

    @precondition(lambda self: self.events)
    @rule(event=PICK)
    def earlier_failure_arrives_late(self, event):
        """A payment_failed for an event's intent, from before its success, to be delivered afterwards."""
        intent = {**self.events[event % len(self.events)]["data"]["object"], "status": "requires_payment_method"}
        self.events.append(intent_event(intent, type="payment_intent.payment_failed"))

    def _deliver(self, event: dict) -> None:
        response = post_event(event)
        # 5xx is how our own failure asks Stripe to deliver again (issue #20); any other answer is final.
        assert response.status_code in (200, 500, 503), response.status_code
        if response.status_code == 200:
            outcome = response.json()["outcome"]
            assert outcome != "malformed", f"our handler answered 'malformed' to Stripe's own event {event['type']}"

    def _stripe(self, *, down: bool):
        """For one step, Stripe unreachable (its API base a closed loopback port) or as it is."""
        return override_settings(STRIPE_API_BASE=f"http://127.0.0.1:{free_port()}") if down else nullcontext()

    @contextlib.contextmanager
    def _refunds_fault(self, fault: str):
        """For one step, refund requests unanswered: ``unreached`` (never got to Stripe) or ``lost`` (Stripe
        refunded, the answer never came back); everything else Stripe answers (tests/payments/lost_answers)."""
        if fault == "answered":
            yield
            return
        with (
            answers_lost(upstream=settings.STRIPE_API_BASE, reach=fault == "lost") as (url, _),
            override_settings(STRIPE_API_BASE=url),
        ):
            yield

    # --- timers -----------------------------------------------------------------------------------

    def _expire(self, *, after: timedelta) -> None:
        """The expiry timer at a time past some deadlines; it must never cancel an order Stripe was paid for."""
        unpaid = list(Order.objects.filter(status=OrderStatus.AWAITING_PAYMENT).values_list("pk", flat=True))
        paid_at_stripe = {
            order for intent, order in self.intent_order.items() if order in unpaid and self.stripe.money(intent)[0]
        }
        orders_expire_overdue(now=timezone.now() + after)
        for order in Order.objects.filter(pk__in=unpaid, status=OrderStatus.CANCELLED):
            assert order.pk not in paid_at_stripe, (
                f"expiry cancelled order {order.number} although its card payment had succeeded at Stripe"
            )
            event = order.events.filter(to_status=OrderStatus.CANCELLED).last()
            assert event.reason == EventReason.PAYMENT_TIMEOUT, (
                f"order {order.number} expired but its cancellation (and e-mail) says {event.reason!r}, "
                "not that the payment did not arrive in time"
            )

    @precondition(lambda self: self.intent_order or Order.objects.exists())
    @rule(deadline=st.sampled_from(["card", "every"]), stripe_down=st.booleans())
    def expiry_timer(self, deadline, stripe_down=False):
        """The expiry timer once card deadlines (30 minutes) or every deadline (collection's 14 days) passed."""
        if deadline == "card":
            after = timedelta(minutes=settings.SHOP_CARD_PAYMENT_MINUTES + 1)
        else:
            after = timedelta(days=settings.SHOP_COLLECTION_DAYS + 1)
        with self._stripe(down=stripe_down):
            self._expire(after=after)
            # The same timer command retries refunds next (manage.py expire_unpaid_orders).
            self._refunds_retry(check=not stripe_down)

    @precondition(lambda self: self.intent_order)
    @rule()
    def refund_timer(self):
        """The refund retry timer, with Stripe up: afterwards no refund is left pending or failed."""
        self._refunds_retry(check=True)

    def _refunds_retry(self, *, check: bool) -> None:
        # Run once a pending refund is old enough to be the timer's (an unanswered one stays pending).
        actions.refunds_retry(now=timezone.now() + timedelta(minutes=settings.SHOP_REFUND_RETRY_AFTER_MINUTES + 1))
        if not check:
            return
        left = list(
            Refund.objects.filter(status__in=(RefundStatus.PENDING, RefundStatus.FAILED)).values_list(
                "payment__order__number", "status", "source", "amount"
            )
        )
        assert not left, f"refunds still not made after the refund timer ran with Stripe up: {left}"

    # --- staff ------------------------------------------------------------------------------------

    def _cancel_story(self, order: Order) -> str:
        event = order.events.filter(to_status=OrderStatus.CANCELLED).last()
        if event is None:
            return "never"
        return f"by {'staff' if event.actor_id else 'the shop'}: {event.note!r}"

    @rule(order=orders, stripe_down=st.booleans(), refunds=REFUND_FAULTS)
    def staff_cancel(self, order, stripe_down=False, refunds="answered"):
        """The admin's cancel (with ``stripe_down``: while Stripe cannot be reached; ``refunds``: its refund
        requests unanswered)."""
        with self._stripe(down=stripe_down), self._refunds_fault(refunds):
            self._staff_cancel(order)

    def _staff_cancel(self, order: int) -> None:
        try:
            actions.staff_cancel(order=Order.objects.get(pk=order), actor=self.staff, note="Customer asked")
        except OrderError:
            return
        if Order.objects.get(pk=order).status == OrderStatus.CANCELLED:
            self.staff_cancelled.add(order)

    @rule(order=paid_card_orders, stripe_down=st.booleans(), refunds=REFUND_FAULTS)
    def staff_cancel_paid(self, order, stripe_down=False, refunds="answered"):
        """The admin's cancel of an order the card paid (the money must go back), as staff_cancel."""
        self.staff_cancel(order, stripe_down=stripe_down, refunds=refunds)

    @rule(order=orders)
    def staff_record_payment(self, order):
        with contextlib.suppress(OrderError):  # refused: staff see why
            actions.payment_record(order=Order.objects.get(pk=order), actor=self.staff, note="Transfer arrived")

    @rule(order=orders)
    def staff_fulfil(self, order):
        """The next fulfilment step: ship (delivered orders), ready for collection, then delivered/collected."""
        instance = Order.objects.get(pk=order)
        collect = instance.shipping_method == ShippingMethod.COLLECT
        step = {
            OrderStatus.PAID: OrderStatus.READY_FOR_COLLECTION if collect else OrderStatus.SHIPPED,
            OrderStatus.AWAITING_PAYMENT: OrderStatus.READY_FOR_COLLECTION,
            OrderStatus.READY_FOR_COLLECTION: OrderStatus.DELIVERED,
            OrderStatus.SHIPPED: OrderStatus.DELIVERED,
        }.get(instance.status)
        if step is None:
            return
        with contextlib.suppress(OrderError):
            order_transition(order=instance, to_status=step, actor=self.staff, note="Machine fulfilment")

    @rule(order=paid_card_orders, full=st.booleans(), refunds=REFUND_FAULTS)
    def staff_refund(self, order, full, refunds="answered"):
        """A goodwill partial refund (£10, the order keeps its status) or a full one with the pieces back on
        sale (the order is cancelled); ``refunds``: Stripe's answer unreached or lost."""
        with self._refunds_fault(refunds):
            self._staff_refund(order, full)

    def _staff_refund(self, order, full):
        payment = Payment.objects.filter(order_id=order, succeeded_at__isnull=False).order_by("pk").first()
        if payment is None:
            return
        amount = payment_refundable(payment=payment) if full else PARTIAL_REFUND
        try:
            payment_refund(
                payment=payment, amount=amount, actor=self.staff, restock=full, idempotency_key=uuid.uuid4().hex
            )
        except RefundError:
            return
        if full and Order.objects.get(pk=order).status == OrderStatus.CANCELLED:
            self.staff_cancelled.add(order)

    @rule(variant=st.integers(0, 2), change=st.sampled_from([-1, 1, 2]))
    def staff_adjust_stock(self, variant, change):
        reason = StockReason.RECEIVED if change > 0 else StockReason.DAMAGED
        with contextlib.suppress(StockAdjustmentError):  # below zero: refused
            variant_stock_adjust(variant_id=self.variants[variant], change=change, reason=reason, actor=self.staff)

    @rule(variant=st.integers(0, 2), counted=st.integers(0, 4))
    def staff_import_stock_count(self, variant, counted):
        """The CSV import with one row whose stock column is a count made in the workshop."""
        row = ProductVariant.objects.select_related("product").get(pk=self.variants[variant])
        sheet = io.StringIO()
        writer = csv.writer(sheet)
        writer.writerow(["sku", "product_slug", "metal", "price", "stock"])
        writer.writerow([row.sku, row.product.slug, row.metal, row.price, counted])
        result = product_import_csv(file=io.StringIO(sheet.getvalue()))
        assert result.ok, [str(e) for e in result.errors]

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def stock_is_conserved(self):
        """Per variant: in stock + held by live orders + sold == everything received and adjusted."""
        stock = dict(ProductVariant.objects.filter(pk__in=self.variants).values_list("pk", "stock"))
        adjusted = dict(
            StockAdjustment.objects.values("variant_id").annotate(s=Sum("change")).values_list("variant_id", "s")
        )
        held, sold = defaultdict(int), defaultdict(int)
        for variant, status, quantity in OrderLine.objects.filter(variant__isnull=False).values_list(
            "variant_id", "order__status", "quantity"
        ):
            if status in LIVE:
                held[variant] += quantity
            elif status in SOLD:
                sold[variant] += quantity
        for pk in self.variants:
            assert stock[pk] >= 0
            assert stock[pk] + held[pk] + sold[pk] == adjusted.get(pk, 0), (
                f"variant {pk}: stock {stock[pk]} + held {held[pk]} + sold {sold[pk]} "
                f"!= received and adjusted {adjusted.get(pk, 0)}"
            )

    @invariant()
    def money_and_emails_match_every_status(self):
        """Per order: Stripe, our rows, the status and the e-mails sent agree; staff's cancellations stay."""
        for books in order_books(self.intent_order):
            self._money_matches(books)
            self._mails_match(books)
        for order in Order.objects.filter(pk__in=self.staff_cancelled).exclude(status=OrderStatus.CANCELLED):
            raise AssertionError(f"order {order.number} was cancelled by staff and is now {order.status}")
        # Staff asked for the pieces back on sale with a full refund: once Stripe made it (now or by the timer)
        # the order is cancelled, unless it had shipped meanwhile (then its history says so).
        for number in Refund.objects.filter(
            restock=True, status=RefundStatus.SUCCEEDED, payment__order__status=OrderStatus.PAID
        ).values_list("payment__order__number", flat=True):
            raise AssertionError(f"order {number} was refunded in full to restock it but is still paid")

    def _money_matches(self, books: Books) -> None:
        order, total = books.order, minor(books.order.total)
        per_intent = {}  # settled intents: what each still holds at Stripe
        for intent_id in books.intents:
            captured, refunded, count = self.stripe.money(intent_id)
            books.stripe_refunded += refunded
            books.refunds_at_stripe += count
            if intent_id in books.succeeded:
                assert 0 <= refunded <= captured, (intent_id, captured, refunded)
                per_intent[intent_id] = captured - refunded
        net = sum(per_intent.values())
        story = f"order {order.number} ({order.status}, {order.payment_method}, total {total})"
        ours = sum(books.succeeded.values()) - books.refunded(RefundStatus.SUCCEEDED)
        # A pending refund may already be made at Stripe (its answer lost): between none and all of it.
        in_flight = books.refunded(RefundStatus.PENDING)
        assert ours - in_flight <= net <= ours, (
            f"{story}: Stripe holds {net} but our payment and refund rows say {ours} ({in_flight} pending)"
        )
        assert net >= 0, f"{story}: Stripe holds {net}"
        if books.refund_unsettled:
            return  # a refund on its way (Stripe was down): refund_timer checks that it arrives
        assert net <= total, f"{story}: Stripe holds {net}, more than the total"
        paying = [intent for intent, held in per_intent.items() if held > 0]
        assert len(paying) <= 1, f"{story} was paid twice: {paying}"
        if order.status in PAID_LIKE and per_intent:
            expected = total - books.refunded(RefundStatus.SUCCEEDED, source=RefundSource.STAFF)
        else:
            expected = 0
        assert net == expected, f"{story}: Stripe holds {net}, the status says {expected}"

    def _mails_match(self, books: Books) -> None:
        """Every e-mail the shopper got about this order is true of what happened to it."""
        order, mails = books.order, books.mails
        story = f"order {order.number} ({order.status}), e-mails {mails}"
        assert mails.count("order_confirmation") == 1, story
        assert mails.count("order_refunded") <= books.refunds_at_stripe, (
            f"{story}: {mails.count('order_refunded')} refund e-mail(s) for {books.refunds_at_stripe} refund(s) "
            f"made at Stripe ({books.stripe_refunded} refunded there)"
        )
        if not books.refund_unsettled:
            assert books.refund_events_total == books.stripe_refunded, (
                f"{story}: the order's history says {books.refund_events_total} was refunded, "
                f"Stripe refunded {books.stripe_refunded}"
            )
        status_mails = [kind for kind in mails if kind in STATUS_MAIL_KINDS]
        last = status_mails[-1] if status_mails else None
        assert last in LAST_STATUS_MAIL[order.status], f"{story}: the last status e-mail is {last}"
        if "order_paid" in mails:
            assert books.recorded_by_staff or books.succeeded, f"{story}: 'payment received' without a payment"
