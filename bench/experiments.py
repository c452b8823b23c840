"""Opt-in what-if changes for the benchmark (BENCH_EXPERIMENTS=name,...), to measure a proposed
app change before anyone makes it. Nothing here runs unless asked; the shop's code is untouched and
the patch lives only in the benchmark's processes (gunicorn via bench.settings, and the harness).
"""

import os

_applied: set[str] = set()


def requested() -> list[str]:
    return [name for name in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if name]


# The first experiment ("listing": EXISTS + subqueries instead of GROUP BY) was measured and then
# superseded by the stored price range (catalog 0004); add new ones here as name -> patch function.
EXPERIMENTS: dict = {}


def apply() -> list[str]:
    """Apply the requested experiments once per process; returns their names."""
    names = requested()
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise SystemExit(f"unknown BENCH_EXPERIMENTS {unknown}; known: {sorted(EXPERIMENTS)}")
    for name in names:
        if name not in _applied:
            EXPERIMENTS[name]()
            _applied.add(name)
    return names


class ExperimentsMiddleware:
    """Installed by bench.settings only when BENCH_EXPERIMENTS is set; patches once, at start-up."""

    def __init__(self, get_response):
        apply()
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)
