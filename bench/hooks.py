"""Bench-only hook for the crash-mid-checkout drill; never installed outside ``bench.settings``.

The drill must kill a worker while it is *inside* order placement. Rather than touching
``orders/``, this middleware watches the SQL of one marked request: once the transaction has
written an order row and changed variant stock (and has not committed), it records the worker's
PID in a marker file and holds the worker there, so the drill can ``kill -9`` it at that exact point.
"""

import json
import os
import re
import threading
from pathlib import Path

from django.db import connection

ORDER_WRITE = re.compile(r'^\s*INSERT\s+INTO\s+"orders_', re.IGNORECASE)
STOCK_WRITE = re.compile(r'^\s*UPDATE\s+"catalog_productvariant"', re.IGNORECASE)
HEADER = "X-Bench-Pause"
# Long enough for the drill to act, shorter than gunicorn's worker timeout.
HOLD_SECONDS = 20


class _PauseInsidePlacement:
    def __init__(self, marker: Path) -> None:
        self.marker = marker
        self.seen: list[str] = []
        self.paused = False

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if ORDER_WRITE.match(sql):
            self.seen.append("order-insert")
        if STOCK_WRITE.match(sql):
            self.seen.append("stock-update")
        if not self.paused and {"order-insert", "stock-update"} <= set(self.seen) and connection.in_atomic_block:
            self.paused = True
            self._hold()
        return result

    def _hold(self) -> None:
        tmp = self.marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "seen": self.seen}))
        tmp.rename(self.marker)
        threading.Event().wait(HOLD_SECONDS)
        # Nobody killed us: fail the request so the transaction rolls back and the drill reports it.
        raise RuntimeError("bench checkout pause expired without the worker being killed")


class CheckoutPauseMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.marker = Path(os.environ.get("BENCH_PAUSE_MARKER", "/tmp/bench-pause-marker.json"))

    def __call__(self, request):
        if request.method != "POST" or request.headers.get(HEADER) != "checkout":
            return self.get_response(request)
        with connection.execute_wrapper(_PauseInsidePlacement(self.marker)):
            return self.get_response(request)
