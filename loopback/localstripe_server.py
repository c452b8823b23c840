"""Runs localstripe (PyPI, a stateful fake Stripe server) on a loopback port for the test session.

Started as ``python -m loopback.localstripe_server PORT`` (by ``loopback.localstripe``). localstripe's
own ``start()`` listens on every interface and keeps its store in /tmp/localstripe.pickle; here it
listens on 127.0.0.1 only and keeps its state in memory (a fresh store per run), nothing else changed.

What localstripe does not cover (the tests say so where it matters): server-side
``PaymentIntent.confirm`` with a payment method, ``charge.refunded`` events (the tests build and sign
those themselves), real 3-D Secure pages (its script shows a confirm/fail prompt instead), Stripe's
idempotency-key replay (it ignores the header: our own unique keys and rows are what the tests check).
"""

import sys

from aiohttp import web
from localstripe import resources
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1])
    resources.store.dump_to_disk = lambda: None  # state in memory only: no file shared with other runs
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
