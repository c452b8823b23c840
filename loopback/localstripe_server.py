"""Runs localstripe (PyPI, a stateful fake Stripe server) on a loopback port for the test session.

Started as ``python -m loopback.localstripe_server PORT`` (by ``loopback.localstripe``). localstripe's
own ``start()`` listens on every interface and keeps its store in /tmp/localstripe.pickle; here it
listens on 127.0.0.1 only and keeps its state in memory (a fresh store per run), and it lists
PaymentIntents newest first, as Stripe does (localstripe's own order is the order of creation, which
its refunds and charges lists already reverse), and it replays a POST sent again with the same
``Idempotency-Key`` (same key and body: the first answer again, nothing created; same key, another
body: Stripe's 400 ``idempotency_error``), as Stripe does for 24 hours (here: for the server's life).

What localstripe does not cover (the tests say so where it matters): server-side
``PaymentIntent.confirm`` with a payment method, ``charge.refunded`` events (the tests build and sign
those themselves), real 3-D Secure pages (its script shows a confirm/fail prompt instead), Stripe's
``created`` filters on PaymentIntent and Refund lists (payments.gateway windows them itself).
"""

import hashlib
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


_replays: dict[tuple[str, str], tuple[str, int, bytes, str]] = {}


@web.middleware
async def idempotency_replay(request, handler):
    """Stripe's idempotent requests: a POST with a key seen before gets the first answer back."""
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    body = hashlib.sha256(await request.read()).hexdigest()
    scope = (request.headers.get("Authorization", ""), key)
    if scope in _replays:
        first_body, status, payload, content_type = _replays[scope]
        if first_body != body:
            error = {
                "type": "idempotency_error",
                "message": "Keys for idempotent requests can only be used with the same parameters "
                "they were first used with.",
            }
            return web.json_response({"error": error}, status=400)
        return web.Response(status=status, body=payload, content_type=content_type)
    response = await handler(request)
    if response.status < 500:  # Stripe does not keep answers to requests that failed on its side
        _replays[scope] = (body, response.status, response.body, response.content_type)
    return response


def main() -> None:
    port = int(sys.argv[1])
    resources.store.dump_to_disk = lambda: None  # state in memory only: no file shared with other runs
    resources.PaymentIntent._api_list_all = staticmethod(_intents_newest_first)
    app.middlewares.insert(0, idempotency_replay)  # outermost: errors rendered by localstripe are replayed too
    web.run_app(app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
