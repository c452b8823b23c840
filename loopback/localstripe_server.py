"""Runs localstripe (PyPI, a stateful fake Stripe server) on a loopback port for the test session.

Started as ``python -m loopback.localstripe_server PORT`` (by ``loopback.localstripe``). localstripe's
own ``start()`` listens on every interface and keeps its store in /tmp/localstripe.pickle; here it
listens on 127.0.0.1 only and keeps its state in memory (a fresh store per run), and it lists
PaymentIntents newest first, as Stripe does (localstripe's own order is the order of creation, which
its refunds and charges lists already reverse); nothing else changed.

What localstripe does not cover (the tests say so where it matters): server-side
``PaymentIntent.confirm`` with a payment method, ``charge.refunded`` events (the tests build and sign
those themselves), real 3-D Secure pages (its script shows a confirm/fail prompt instead), Stripe's
idempotency-key replay (it ignores the header: our own unique keys and rows are what the tests check),
``created`` filters on PaymentIntent and Refund lists (payments.gateway windows them itself).
"""

import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def _intents_newest_first(url, limit=None, starting_after=None, **kwargs):
    listing = resources.StripeObject._api_list_all.__func__(
        resources.PaymentIntent, url, limit=limit, starting_after=starting_after, **kwargs
    )
    listing._list.sort(key=lambda intent: intent.created, reverse=True)  # stable: ties keep their order
    return listing


def main() -> None:
    port = int(sys.argv[1])
    resources.store.dump_to_disk = lambda: None  # state in memory only: no file shared with other runs
    resources.PaymentIntent._api_list_all = staticmethod(_intents_newest_first)
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
