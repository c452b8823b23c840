"""The threaded loop behind the order rows (order-place, order-place-card): worker threads take
numbered attempts until the slice's count or time runs out, and the slice is reported wrk-shaped."""

import statistics
import threading
import time
from collections.abc import Callable

from bench.harness import log

# attempt(thread, number) -> (succeeded, seconds timed, what went wrong when it did not)
Attempt = Callable[[int, int], tuple[bool, float, str]]


def attempts_threaded(*, attempt: Attempt, threads: int, seconds: float, limit: int) -> dict:
    """Run ``attempt`` from ``threads`` threads, at most ``limit`` times and for about ``seconds``
    (an attempt started before the deadline finishes); return wrk-shaped figures of the successes."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    attempts = [0]

    def worker(thread: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                if attempts[0] >= limit:
                    return
                attempts[0] += 1
                number = attempts[0]
            ok, took, detail = attempt(thread, number)
            with lock:
                (latencies.append(took) if ok else failures.append(detail))

    start = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=seconds + 60)
    elapsed = time.monotonic() - start
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1e6 if ordered else 0.0

    return {
        "requests": len(latencies) + len(failures),
        "orders": len(latencies),
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "duration_us": elapsed * 1e6,
        "latency_us": {
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "mean": statistics.fmean(ordered) * 1e6 if ordered else 0.0,
        },
        "status": {"failed": len(failures)},
        "failures_sample": failures[:5],
        "socket_errors": 0,
    }


def checkouts_threaded(
    s, *, what: str, email: str, stride: int, place: Callable[[object], tuple[bool, float, str]]
) -> Callable[[float, int], dict]:
    """A row's slice function: ``place(shopper)`` from ``s.connections`` threads, each time for a new
    guest (``{email}{slice}-{n}@example.com``) with one variant in the bag, at most
    ``s.max_orders / s.slices`` per slice; ``place`` returns what ``attempts_threaded`` wants."""
    from bench.shopper import Paths, Shopper

    paths = Paths.from_urlconf()
    per_slice = max(1, s.max_orders // s.slices)

    def run(seconds: float, index: int) -> dict:
        def attempt(thread: int, number: int) -> tuple[bool, float, str]:
            shopper = Shopper(s.app.url, paths, email=f"{email}{index}-{number}@example.com")
            shopper.add_to_cart(s.variants[(number * stride + thread + index * 131) % len(s.variants)])
            return place(shopper)

        log(f"  {what} from {s.connections} threads for {seconds:.0f} s (at most {per_slice})")
        return attempts_threaded(attempt=attempt, threads=s.connections, seconds=seconds, limit=per_slice)

    return run
