"""Compare Stripe's payments and refunds of a time window with our orders; repair what is safe, report the rest.

Run daily by deploy/jewelry-payments-reconcile.timer. Exit status 0 when nothing is left for a person,
1 when a divergence remains (each one also logged as ``reconcile_divergence`` at ERROR, which the
CloudWatch alarm watches), 2 when it could not run (bad arguments, Stripe unreachable). The summary for
people goes to stderr (the journal); stdout carries only the app's JSON log lines (app.log, CloudWatch).
Safe to run twice: a second run repairs nothing the first one repaired.
"""

import argparse
import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from catalog.money import format_money
from payments import gateway
from payments.reconcile import payments_reconcile, reconcile_window

logger = logging.getLogger("shop.payments")


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date and time, e.g. 2026-12-01T00:00") from None
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.get_current_timezone())


def _hours(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 24 * 90:
        raise argparse.ArgumentTypeError("hours must be a whole number from 1 to 2160")
    return int(value)


class Command(BaseCommand):
    help = "Compare Stripe's payments and refunds with our orders for a time window; repair what is safe."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", type=_moment, help="start of the window (ISO), default: --hours before --until")
        parser.add_argument("--until", type=_moment, help="end of the window (ISO), default: now")
        parser.add_argument("--hours", type=_hours, help="window length when --since is not given")
        parser.add_argument(
            "--repair",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="repair what is safe (default); --no-repair only reports",
        )

    def handle(self, *args, since=None, until=None, hours=None, repair=True, **options) -> None:
        if since is not None and hours is not None:
            raise CommandError("Give --since or --hours, not both.", returncode=2)
        since, until = reconcile_window(since=since, until=until, hours=hours)
        if since >= until:
            raise CommandError("--since must be before --until.", returncode=2)
        if not settings.STRIPE_ENABLED:
            logger.info("reconcile_finished", extra={"event": "reconcile_finished", "skipped": "card payments off"})
            self.stderr.write("Card payments are off: nothing to reconcile.")
            return
        try:
            report = payments_reconcile(since=since, until=until, repair=repair)
        except gateway.GatewayError as error:
            logger.error("reconcile_failed", extra={"event": "reconcile_failed", "error": str(error)})
            raise CommandError(f"Reconciliation did not run: {error}", returncode=2) from error
        self.stderr.write(
            f"Checked {report.intents_checked} Stripe payment(s) and {report.orders_checked} paid card order(s) "
            f"from {since.astimezone(UTC):%Y-%m-%d %H:%M} to {until.astimezone(UTC):%Y-%m-%d %H:%M} UTC: "
            f"{len(report.findings)} divergence(s), {len(report.unrepaired)} left for staff."
        )
        for finding in report.findings:
            amounts = ", ".join(
                f"{label} {format_money(amount, pence=True)}"
                for label, amount in (("Stripe", finding.stripe_amount), ("ours", finding.our_amount))
                if amount is not None
            )
            state = "repaired" if finding.repaired else "TO CHECK"
            parts = [finding.kind, finding.order_number or "-", finding.intent_id or "-", amounts, finding.detail]
            self.stderr.write(f"  {state}: " + " | ".join(part for part in parts if part))
        if report.unrepaired:
            raise CommandError(
                f"{len(report.unrepaired)} divergence(s) need a person: see deploy/runbooks/alarms.md "
                "(Payments reconciliation).",
                returncode=1,
            )
