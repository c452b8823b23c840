"""Cancel unpaid orders past their payment deadline (their pieces back on sale, their PaymentIntents ended),
then send again the refunds that are pending or failed (payments.refunds.refunds_retry) and finish the
staff cancels that waited on one (payments.cancel.cancels_finish).

Run every few minutes by deploy/jewelry-expire-orders.timer; safe to run twice at once (each order is
cancelled under its row lock and its stock comes back exactly once; each refund is sent with its own
idempotency key and recorded once).
"""

from django.core.management.base import BaseCommand

from payments.cancel import cancels_finish
from payments.expiry import orders_expire_overdue
from payments.refunds import refunds_retry


class Command(BaseCommand):
    help = "Cancel unpaid orders past their deadline, return their stock, cancel their intents, retry refunds."

    def handle(self, *args, **options) -> None:
        numbers = orders_expire_overdue()
        self.stdout.write(f"Cancelled {len(numbers)} unpaid order(s) past their deadline.")
        for number in numbers:
            self.stdout.write(f"  {number}")
        sent = refunds_retry()
        if sent:
            self.stdout.write(f"Sent {sent} refund(s) that were pending or had failed.")
        # A staff cancel that stopped on an unanswered refund is finished once that refund went through.
        finished = cancels_finish()
        if finished:
            self.stdout.write(f"Cancelled {finished} order(s) whose refund Stripe has now confirmed.")
