"""Release several database calls at the same instant, each on its own thread and connection."""

import threading

from django.db import connection


def run_together(calls, *, join_timeout: float = 120, what: str = "a call") -> list:
    """Run each zero-argument callable in its own thread, all released at once; return results/exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:  # collected and asserted by the test
            results[index] = error
        finally:
            connection.close()  # each thread has its own connection; give it back

    threads = [threading.Thread(target=worker, args=(i, call), name=f"tab-{i}") for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    assert not any(thread.is_alive() for thread in threads), f"{what} hung (deadlock?)"
    return results
