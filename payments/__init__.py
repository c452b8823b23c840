"""Card payments (Stripe), the end of every reservation, and refunds (issue #11).

Why an app of its own: orders know what was bought; this app knows how it gets paid, by whom
(Stripe), and what happens when nobody pays. It sits beside ``orders`` and below ``jewelry_site``.

Dependencies run one way: ``payments -> orders -> cart -> catalog``. This app imports ``orders``
(models, placement services and the status workflow, ``orders.workflow``); ``orders`` never imports
``payments``: ``orders.services.payment_start`` names the payment page by URL name (``payments:pay``)
only, and staff cancel / record payment reach this app through ``orders.payment_port``, which
``PaymentsConfig.ready()`` fills in (payments.cancel).
Stripe itself is reached through ``payments.gateway`` alone (timeouts, retries, idempotency keys).
"""
