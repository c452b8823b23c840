"""The threaded loop of the order rows (bench/loops.py): bounded by count and by time, every attempt
numbered once, failures counted apart from the latencies the percentiles are taken over."""

import threading

from bench.loops import attempts_threaded


def test_attempts_stop_at_the_limit_each_number_taken_once():
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def attempt(thread: int, number: int) -> tuple[bool, float, str]:
        with lock:
            seen.append((thread, number))
        if number % 10 == 0:
            return False, 0.0, f"refused {number}"
        return True, number / 1000, ""

    result = attempts_threaded(attempt=attempt, threads=4, seconds=60, limit=100)

    assert sorted(number for _, number in seen) == list(range(1, 101))
    assert {thread for thread, _ in seen} <= {0, 1, 2, 3}
    assert (result["requests"], result["orders"], result["status"]) == (100, 90, {"failed": 10})
    sample = result["failures_sample"]
    assert len(sample) == 5
    assert all(detail.startswith("refused ") and int(detail.split()[1]) % 10 == 0 for detail in sample)
    # The 90 successes took 1..99 ms less the tens; p is the value at index int(p * 90) of them sorted.
    latency = result["latency_us"]
    assert round(latency["p50"]) == 51_000
    assert round(latency["p90"]) == 91_000
    assert round(latency["p99"]) == 99_000
    assert round(latency["mean"]) == 50_000
    assert result["socket_errors"] == 0


def test_no_time_left_means_no_attempt_and_zero_figures():
    calls = []
    result = attempts_threaded(attempt=lambda t, n: calls.append(n), threads=3, seconds=0, limit=100)
    assert calls == []
    assert result["requests"] == result["orders"] == 0
    assert result["latency_us"] == {"p50": 0.0, "p90": 0.0, "p99": 0.0, "mean": 0.0}
