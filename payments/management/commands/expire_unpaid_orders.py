"""Cancel unpaid orders past their payment deadline: their pieces go back on sale, their PaymentIntents end.

Run every few minutes by deploy/jewelry-expire-orders.timer; safe to run twice at once (each order is
cancelled under its row lock, and a cancelled order is final, so its stock comes back exactly once).
"""

from django.core.management.base import BaseCommand

from payments.expiry import orders_expire_overdue


class Command(BaseCommand):
    help = "Cancel unpaid orders past their deadline, return their stock and cancel their PaymentIntents."

    def handle(self, *args, **options) -> None:
        numbers = orders_expire_overdue()
        self.stdout.write(f"Cancelled {len(numbers)} unpaid order(s) past their deadline.")
        for number in numbers:
            self.stdout.write(f"  {number}")
