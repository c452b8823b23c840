from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # orders may not import payments: it reaches card payments through this registration only.
        from orders.payment_port import register

        from .cancel import CardPayments

        register(CardPayments())
