"""The last piece, under every fault at once (issue #20): N shoppers race for a piece with stock 1,
paying by card; while they do, a gunicorn worker is killed inside a Stripe call, Stripe is
unreachable, Postgres restarts, SMTP is down and Stripe's webhooks arrive late. Once the faults stop
and the timers have run: one paid order, every other charged shopper refunded in full at Stripe, no
refund pending or failed, every e-mail true (bench/drills/last_piece_verdict.py).

How shoppers come to be charged for a piece someone else gets (rounds, one per shopper): all who have
not had the piece race to place an order; the one who gets it pays while Stripe is slow (the gate
holds the charge call past the payment deadline); the expiry timer cancels the order and the piece
is back on sale; Stripe then charges the card. The last round's shopper pays normally. Every
payment's webhook is held back (late) until the fault phase.

DRILL_LAST_PIECE_SHOPPERS (6) and DRILL_LAST_PIECE_DEADLINE_SECONDS (8, the card reservation)
shorten it; DRILL_LAST_PIECE_RECOVERY_SECONDS (90) bounds the timer runs after the faults (they stop
as soon as no refund is pending or failed and every e-mail is sent). localstripe, the gate, the
webhook relay, the SMTP server and the e-mail worker are in bench/drills/outages.py (what each does
not cover is said there).
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from email import message_from_bytes
from urllib.parse import urlparse

import requests

from bench.card_orders import SETUP_SECRET
from bench.drills.common import Context, Verdict
from bench.drills.db_restart import Postgres
from bench.drills.last_piece_verdict import (
    MailSeen,
    Observations,
    OrderSeen,
    StripeIntent,
    StripeRefund,
    verdict_lines,
)
from bench.drills.outages import MailWorker, SmtpSink, StripeGate, WebhookRelay, pid_with_connection
from bench.harness import REPO, Gunicorn, fill_form, log
from bench.shopper import Paths, Shopper
from loopback import free_port, wait_until
from loopback.localstripe import SECRET_KEY, WEBHOOK_SECRET, localstripe_running

SHOPPERS = int(os.environ.get("DRILL_LAST_PIECE_SHOPPERS", 6))
DEADLINE_S = float(os.environ.get("DRILL_LAST_PIECE_DEADLINE_SECONDS", 8))
PRICE = Decimal("1150.00")
DB_DOWN_S = 3.0
RECOVERY_S = float(os.environ.get("DRILL_LAST_PIECE_RECOVERY_SECONDS", 90))
EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded"]


def run(ctx: Context) -> Verdict:
    from django.urls import reverse

    verdict = Verdict("last-piece")
    variant_id = _piece()
    verdict.note(f"one piece (variant {variant_id}, {PRICE}), {SHOPPERS} shoppers, reservations of {DEADLINE_S:g} s")
    db = Postgres()
    sink = SmtpSink(free_port())  # down until the faults stop
    with localstripe_running() as stripe_server, StripeGate(int(stripe_server.url.rsplit(":", 1)[1])) as gate:
        app_env = {
            **stripe_server.env(),
            "DJANGO_STRIPE_API_BASE": gate.url,  # the shop reaches Stripe only through the gate
            "DJANGO_STRIPE_TIMEOUT_SECONDS": "20",
            "BENCH_CARD_PAYMENT_SECONDS": str(DEADLINE_S),
            "BENCH_REFUND_RETRY_AFTER_SECONDS": "5",
        }
        timer_env = {**os.environ, **app_env}
        mail_env = {
            **timer_env,
            "BENCH_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "DJANGO_EMAIL_HOST": "127.0.0.1",
            "DJANGO_EMAIL_PORT": str(sink.port),
            "DJANGO_EMAIL_USE_TLS": "false",
            "DJANGO_EMAIL_TIMEOUT": "5",
            # Quick retries while SMTP is down (0.5 s doubling to 2 s), never "failed for good" here.
            "DJANGO_MAIL_RETRY_BASE_SECONDS": "0.5",
            "DJANGO_MAIL_RETRY_MAX_SECONDS": "2",
            "DJANGO_MAIL_MAX_ATTEMPTS": "100000",
        }
        worker = MailWorker(env=mail_env, log=ctx.work / "last-piece-mail-worker.log", cwd=REPO)
        with (
            Gunicorn(ctx.work, name="lastpiece", extra_env=app_env) as app,
            WebhookRelay(target=app.url + reverse("payments:stripe-webhook"), secret=WEBHOOK_SECRET) as relay,
        ):
            stripe_server.register_webhook(name="shop", url=relay.url, events=EVENTS)
            worker.start()
            supervisor = _Supervisor(worker)
            try:
                race = {"app": app, "gate": gate, "stripe_server": stripe_server, "env": timer_env, "ctx": ctx}
                numbers = _race(verdict, variant_id=variant_id, **race)
                _faults(verdict, relay=relay, db=db, first=numbers[0], last=numbers[-1], **race)
                gate.mode = "open"
                sink.up()
                verdict.note("faults over: Stripe reachable, SMTP up")
                _recover(verdict, relay=relay, env=timer_env, ctx=ctx)
            finally:
                supervisor.stop()
                worker.stop()
                sink_messages = sink.received()
                sink.down()
            verdict.note(f"e-mail worker started {worker.starts} time(s)")
            for delivery in relay.deliveries:
                verdict.note(
                    f"webhook {delivery.type} for {delivery.order_number or '?'}: {delivery.attempts} attempt(s) "
                    f"{delivery.outcomes[:6]}"
                )
            observed = _observe(stripe_server.url, variant_id=variant_id, received=sink_messages)
    verdict.figures = {"shoppers": SHOPPERS, "deadline_s": DEADLINE_S, "orders": len(observed.orders)}
    for ok, line in verdict_lines(observed):
        verdict.check(ok, line)
    return verdict


def _piece() -> int:
    """A new one-of-a-kind ring: one variant, one piece received (recorded like any delivery)."""
    from catalog.models import Product, ProductVariant, StockReason
    from catalog.services.stock import variant_stock_adjust

    model = Product.objects.order_by("pk").first()
    suffix = f"{int(time.time()):x}"
    product = Product.objects.create(
        name=f"Last Piece Sapphire Ring {suffix}",
        slug=f"last-piece-sapphire-ring-{suffix}",
        description="One of a kind.",
        category=model.category,
        metal=model.metal,
    )
    variant = ProductVariant.objects.create(product=product, sku=f"LAST-{suffix}", metal=model.metal, price=PRICE)
    variant_stock_adjust(variant_id=variant.pk, change=1, reason=StockReason.RECEIVED, note="the last piece")
    return variant.pk


def _race(
    verdict: Verdict, *, app, gate: StripeGate, stripe_server, env: dict, ctx: Context, variant_id: int
) -> list[str]:
    """Rounds of racing for the piece; returns the order numbers, in the order they held it."""
    paths = Paths.from_urlconf()
    shoppers = [Shopper(app.url, paths, email=f"last.piece.{i}@example.com") for i in range(SHOPPERS)]
    for shopper in shoppers:
        verdict.check(shopper.add_to_cart(variant_id).ok, f"{shopper.email} has the piece in the bag")
    numbers: list[str] = []
    waiting = list(shoppers)
    while waiting:
        if numbers:  # the piece is back on sale: whoever still wants it puts it in the bag again
            for shopper in waiting:
                shopper.add_to_cart(variant_id)
        placed = _place_together(waiting)
        won = [(s, path) for s, path, _ in placed if path]
        refused = sorted({detail for _, path, detail in placed if not path})
        if not verdict.check(len(won) <= 1, f"round {len(numbers) + 1}: {len(won)} of {len(waiting)} got the piece"):
            break
        if not won:
            verdict.note(f"nobody could place an order (the piece is held: {refused}); the race ends")
            break
        shopper, pay_path = won[0]
        number = pay_path.rstrip("/").rsplit("/", 1)[-1]
        numbers.append(number)
        waiting.remove(shopper)
        secret = SETUP_SECRET.search(shopper.get(pay_path).text)
        if not verdict.check(bool(secret), f"{number} ({shopper.email}): card form on the payment page"):
            break
        payment_method = stripe_server.card_setup(setup_secret=secret[1])
        if not waiting:  # the last shopper pays while Stripe answers
            verdict.note(f"{number}: paid normally, answer {_charge(shopper, pay_path, payment_method)}")
            break
        _pay_late(
            verdict, shopper=shopper, pay_path=pay_path, payment_method=payment_method, gate=gate, env=env, ctx=ctx
        )
    return numbers


def _pay_late(
    verdict: Verdict, *, shopper: Shopper, pay_path: str, payment_method: str, gate: StripeGate, env: dict, ctx: Context
) -> None:
    """Stripe slow: the charge call waits at the gate past the deadline, and the expiry timer runs."""
    from django.db import connections

    from orders.models import Order

    number = pay_path.rstrip("/").rsplit("/", 1)[-1]
    gate.mode = "hold"
    answer: dict = {}
    call = threading.Thread(target=lambda: answer.update(r=_charge(shopper, pay_path, payment_method)))
    call.start()
    wait_until(lambda: bool(gate.held_peer_ports()), timeout=15, what="the charge call to reach Stripe")
    gate.mode = "open"
    deadline = Order.objects.values_list("payment_deadline", flat=True).get(number=number).timestamp()
    connections.close_all()
    wait_until(lambda: time.time() > deadline + 0.2, timeout=DEADLINE_S + 10, what="the payment deadline")
    verdict.note(f"{number}: deadline passed with its charge call held; expiry: {_timers(env, ctx)}")
    verdict.note(f"{number}: now {Order.objects.get(number=number).status}")
    gate.release()
    call.join(timeout=60)
    verdict.note(f"{number}: Stripe answered late; the shop told {shopper.email}: {answer.get('r')}")


def _place_together(shoppers: list[Shopper]) -> list[tuple[Shopper, str, str]]:
    """Every shopper GETs the checkout form, then all POST it at once; (shopper, pay path or "", detail)."""
    forms = [shopper.checkout_form()[0] for shopper in shoppers]
    barrier = threading.Barrier(len(shoppers))
    results: list = [None] * len(shoppers)

    def place(i: int) -> None:
        shopper, form = shoppers[i], forms[i]
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=30)
        if form is None:
            results[i] = (shopper, "", "no checkout form")
            return
        data = {**fill_form(form, email=shopper.email), "payment_method": "card"}
        answer = shopper.post(form["action"] or shopper.paths.checkout, data)
        path = urlparse(answer.headers.get("Location", "")).path
        ok = "/checkout/pay/" in path
        results[i] = (shopper, path if ok else "", f"{answer.status_code} {path}")

    threads = [threading.Thread(target=place, args=(i,)) for i in range(len(shoppers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    return [r for r in results if r is not None]


def _charge(shopper: Shopper, pay_path: str, payment_method: str) -> str:
    try:
        answer = shopper.session.post(
            shopper.base + pay_path + "charge/",
            data=json.dumps({"payment_method": payment_method}),
            headers={
                "X-CSRFToken": shopper.token,
                "Content-Type": "application/json",
                "Referer": shopper.base + pay_path,
            },
            timeout=60,
        )
    except Exception as error:
        return type(error).__name__
    try:
        return f"{answer.status_code} {answer.json().get('status')} {answer.json().get('message') or ''}".strip()
    except ValueError:
        return f"{answer.status_code} {answer.text[:80]}"


def _faults(
    verdict: Verdict, *, app, gate, stripe_server, relay, db, env: dict, ctx: Context, first: str, last: str
) -> None:
    """Late webhooks into a shop whose Stripe is unreachable, one worker killed in a Stripe call, expiry
    while Stripe is down, a database restart."""
    from django.db import connections

    from orders.models import Order

    gate.mode = "hold"
    verdict.note(f"Stripe unreachable (calls hang); SMTP down since the start; releasing {first}'s late webhook")
    relay.release(order_number=first)
    victim = None
    try:
        wait_until(
            lambda: any(pid_with_connection(app.worker_pids(), local_port=p) for p in gate.held_peer_ports()),
            timeout=15,
            what="a worker inside a Stripe call",
        )
        for port in gate.held_peer_ports():
            victim = victim or pid_with_connection(app.worker_pids(), local_port=port)
        verdict.note(f"worker {victim} is waiting on Stripe while handling the late webhook: kill -9")
    except RuntimeError:
        victim = app.worker_pids()[0]
        verdict.note(f"no worker called Stripe for the late webhook within 15 s; kill -9 worker {victim} anyway")
    os.kill(victim, signal.SIGKILL)
    gate.mode = "refuse"
    gate.drop_held()
    # The last shopper paid in time, but Stripe's word has not come: expiry must not take the piece back.
    deadline = Order.objects.values_list("payment_deadline", flat=True).get(number=last).timestamp()
    connections.close_all()
    wait_until(lambda: time.time() > deadline + 0.2, timeout=DEADLINE_S + 10, what="the last order's deadline")
    verdict.note(f"Stripe refuses connections; expiry past {last}'s deadline, its webhook late: {_timers(env, ctx)}")
    verdict.note(f"{last} is now {Order.objects.get(number=last).status}; releasing the other late webhooks")
    relay.release()
    wait_until(lambda: all(d.attempts >= 1 for d in relay.deliveries), timeout=60, what="a first try of every webhook")
    connections.close_all()
    db.stop()
    down = time.monotonic()
    verdict.note("Postgres stopped")
    wait_until(lambda: time.monotonic() - down >= DB_DOWN_S, timeout=DB_DOWN_S + 5, what="the outage")
    db.start()
    verdict.note(f"Postgres started again after {time.monotonic() - down:.1f} s; Stripe refused {gate.refused} calls")


def _recover(verdict: Verdict, *, relay, env: dict, ctx: Context) -> None:
    """Stripe's retries drain, the timers run until nothing is left to retry, the e-mail queue drains."""
    from django.db import connections

    from mailqueue.models import Mail
    from payments.models import Refund

    try:
        wait_until(lambda: not relay.pending(), timeout=60, what="every webhook delivered")
    except RuntimeError as error:
        verdict.check(False, str(error))
    started, runs = time.monotonic(), 0

    def settled() -> bool:
        connections.close_all()
        return (
            not Refund.objects.exclude(status="succeeded").exists() and not Mail.objects.exclude(status="sent").exists()
        )

    while time.monotonic() - started < RECOVERY_S:
        outcome = _timers(env, ctx)
        runs += 1
        next_run = started + runs * 2.0
        if runs <= 3:
            verdict.note(f"timers after the faults (run {runs}): {outcome}")
        if settled():
            break
        wait_until(lambda: time.monotonic() >= next_run, timeout=5, what="the next timer run")  # noqa: B023
    verdict.note(f"timers ran {runs} time(s) after the faults, {time.monotonic() - started:.1f} s")


def _timers(env: dict, ctx: Context) -> str:
    """The systemd timers' commands: expiry (which also retries refunds) and reconciliation if the shop has it."""
    from django.core.management import get_commands

    said = []
    commands = [["expire_unpaid_orders"]]
    if "payments_reconcile" in get_commands():
        commands.append(["payments_reconcile"])
    with (ctx.work / "last-piece-timers.log").open("a") as log_file:
        for command in commands:
            done = subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                timeout=120,
            )
            # The command's own words; the JSON log lines go to the timers' log file.
            first = [line for line in done.stdout.splitlines() if line.strip() and not line.startswith("{")][:1]
            log_file.write(done.stdout)
            said.append(f"{command[0]} exit {done.returncode} {first[0] if first else ''}".strip())
    return "; ".join(said)


class _Supervisor:
    """Restarts the e-mail worker when it exits (systemd's Restart=always), until stopped."""

    def __init__(self, worker: MailWorker) -> None:
        self.worker = worker
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stopping.wait(0.5):
            self.worker.restart_if_exited()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=70)


def _observe(stripe_url: str, *, variant_id: int, received: list[bytes]) -> Observations:
    from django.db import connections

    from catalog.models import ProductVariant
    from mailqueue.models import Mail
    from orders.models import Order
    from payments.models import Refund

    connections.close_all()
    orders = [
        OrderSeen(number, status, total)
        for number, status, total in Order.objects.filter(lines__variant_id=variant_id)
        .distinct()
        .order_by("pk")
        .values_list("number", "status", "total")
    ]
    numbers = {o.number for o in orders}
    auth = (SECRET_KEY, "")
    intents, after = [], None
    for _ in range(50):
        params = {"limit": 100, **({"starting_after": after} if after else {})}
        page = requests.get(f"{stripe_url}/v1/payment_intents", params=params, auth=auth, timeout=10).json()
        for pi in page["data"]:
            number = (pi.get("metadata") or {}).get("order_number", "")
            refunds: tuple = ()
            if pi.get("latest_charge"):
                listed = requests.get(
                    f"{stripe_url}/v1/refunds", params={"payment_intent": pi["id"]}, auth=auth, timeout=10
                ).json()["data"]
                refunds = tuple(StripeRefund(_pounds(r["amount"]), r["status"], int(r["created"])) for r in listed)
            intents.append(
                StripeIntent(pi["id"], number, pi["status"], _pounds(pi["amount"]), refunds, int(pi["created"]))
            )
        if not page.get("has_more") or not page["data"]:
            break
        after = page["data"][-1]["id"]
    mails = [
        MailSeen(str(uuid), kind, reference, status, created.timestamp(), text)
        for uuid, kind, reference, status, created, text in Mail.objects.filter(reference__in=numbers)
        .order_by("pk")
        .values_list("uuid", "kind", "reference", "status", "created_at", "text_body")
    ]
    received_ids = [str(message_from_bytes(raw)["Message-ID"]).strip("<>").split("@")[0] for raw in received]
    log(f"  last-piece: {len(intents)} intents at Stripe, {len(mails)} e-mails queued, {len(received)} received")
    return Observations(
        orders=orders,
        intents=[i for i in intents if i.order_number in numbers or i.status == "succeeded"],
        refund_rows=list(
            Refund.objects.filter(payment__order__number__in=numbers).values_list(
                "payment__intent_id", "status", "amount"
            )
        ),
        mails=mails,
        received_ids=received_ids,
        stock=ProductVariant.objects.values_list("stock", flat=True).get(pk=variant_id),
    )


def _pounds(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))
