"""Fuzzing: hypothesis-generated values for every field of every shopper form and every query
parameter the pages use, sent through Django's test client to the bench database; zero 500s.

Forms are discovered from the pages themselves (home, list, category, product, bag, checkout,
sign-in), so new fields are fuzzed without editing this file. At least 2,000 examples in all."""

import contextlib
import math
import os
from urllib.parse import quote, urlparse

from bench.drills.common import Context, Verdict
from bench.harness import forms_in

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "2147483648",
    "9" * 40,
    "1e309",
    "NaN",
    "-Infinity",
    "0x10",
    "1.5",
    "١٢٣",
    "１２３",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "\x00",
    "a\x00b",
    "%00",
    "../../etc/passwd",
    "//evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "\r\nSet-Cookie: x=1",
    "😀" * 20,
    "x" * 5000,
    "null",
    "[]",
    "{}",
]
EXTRA_QUERY = [
    "page",
    "q",
    "sort",
    "metal",
    "gemstone",
    "category",
    "min_price",
    "max_price",
    "price_min",
    "price_max",
    "variant",
    "next",
]


def _strategy(field: dict):
    from hypothesis import strategies as st

    options = [o for o in field.get("options", []) if o] or ([field["value"]] if field.get("value") else [])
    parts = [
        st.text(max_size=60),
        st.integers(min_value=-(10**15), max_value=10**15).map(str),
        st.decimals(allow_nan=True, allow_infinity=True, places=3).map(str),
        st.sampled_from(NASTY),
    ]
    if options:
        parts.append(st.sampled_from(options))
    return st.one_of(*parts)


def _path_prefixes() -> list[str]:
    """The fixed part of each shopper URL that takes one path parameter (resolved, so names not paths)."""
    from django.urls import NoReverseMatch, reverse

    prefixes = []
    for name, kwargs in (
        ("catalog:product-detail", {"slug": "x"}),
        ("catalog:category-detail", {"slug": "x"}),
        ("orders:confirmation", {"number": "x"}),
        ("orders:order-detail", {"number": "x"}),
        ("orders:guest-link-legacy", {"token": "x"}),
    ):
        try:
            url = reverse(name, kwargs=kwargs)
        except NoReverseMatch:
            continue
        prefixes.append(url[: url.rindex("/x/") + 1])
    return prefixes


def discover(ctx: Context, client) -> list[dict]:
    """Every GET/POST form on the shopper pages (deduplicated), plus the list's query parameters."""
    from bench.shopper import Paths

    paths = Paths.from_urlconf()
    client.post(paths.cart_add, {"variant": ctx.variants[0], "quantity": 1, "next": paths.cart_detail})
    pages = [ctx.pages[k] for k in ("home", "product-list", "category", "product-detail")] + [
        paths.cart_detail,
        paths.checkout,
    ]
    from django.urls import NoReverseMatch, reverse

    with contextlib.suppress(NoReverseMatch):
        pages.append(reverse("accounts:login"))
    targets, seen = [], set()
    for page in pages:
        response = client.get(page)
        if response.status_code != 200:
            continue
        for form in forms_in(response.content.decode()):
            action = urlparse(form["action"]).path if form["action"] else page
            if form["action"].startswith("http") or action.startswith("/admin"):
                continue
            names = tuple(sorted({f["name"] for f in form["fields"] if f["name"] != "csrfmiddlewaretoken"}))
            key = (form["method"], action, names)
            if key in seen or not names:
                continue
            seen.add(key)
            fields = [f for f in form["fields"] if f["name"] != "csrfmiddlewaretoken"]
            targets.append({"method": form["method"], "path": action, "fields": fields, "from": page})
    for page in (ctx.pages["product-list"], ctx.pages["category"], ctx.pages["home"], ctx.pages["product-detail"]):
        fields = [{"name": name, "tag": "input", "type": "text", "value": ""} for name in EXTRA_QUERY]
        targets.append({"method": "get", "path": page, "fields": fields, "from": "query parameters"})
    # Path parameters: slugs, order numbers and signed guest-order tokens (prefixes from the URLconf).
    for prefix in _path_prefixes():
        targets.append({"method": "path", "path": prefix, "fields": [], "from": "path parameter"})
    return targets


def _probe_for(strategy, examples: int, send):
    """A hypothesis test that sends each generated example once (no shrinking: we count, not minimise)."""
    from hypothesis import HealthCheck, Phase, given, settings

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=strategy)
    def probe(data):
        send(data)

    return probe


def run(ctx: Context) -> Verdict:
    import logging

    from django.core.signals import got_request_exception
    from django.test import Client
    from hypothesis import strategies as st

    from bench.shopper import Paths

    verdict = Verdict("fuzzing")
    exceptions: list[str] = []

    def remember(sender, request=None, **kwargs):
        import sys

        exc = sys.exc_info()[1]
        exceptions.append(f"{type(exc).__name__}: {str(exc)[:120]}")

    got_request_exception.connect(remember, weak=False)
    # Thousands of expected 4xx lines would drown the report; 500s are counted from the responses.
    request_logger = logging.getLogger("django.request")
    old_level, request_logger.level = request_logger.level, logging.CRITICAL
    total_wanted = int(os.environ.get("DRILL_FUZZ_EXAMPLES", 2400))
    client = Client(raise_request_exception=False)
    paths = Paths.from_urlconf()
    targets = discover(ctx, client)
    per_target = max(50, math.ceil(total_wanted / len(targets)))
    verdict.note(f"{len(targets)} targets, {per_target} examples each")
    counts = {"examples": 0, "500": 0}
    failures: dict[str, dict] = {}
    by_status: dict[int, int] = {}

    def send(target: dict, data: dict) -> None:
        if target["method"] == "path":
            response = client.get(target["path"] + quote(data["slug"], safe="") + "/")
        elif target["method"] == "get":
            response = client.get(target["path"], data)
        else:
            if target["path"] == paths.checkout:  # keep something to check out
                client.post(paths.cart_add, {"variant": ctx.variants[1], "quantity": 1})
            response = client.post(target["path"], data)
        counts["examples"] += 1
        by_status[response.status_code] = by_status.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            counts["500"] += 1
            cause = exceptions[-1] if exceptions else "no exception seen"
            # One example per (endpoint, exception type): a second kind of bug is never hidden by the first.
            key = f"{target['method'].upper()} {target['path']} -> {cause.split(':', 1)[0]}"
            if key not in failures:
                failures[key] = {"count": 0, "example": f"{data!r:.160} -> {cause}"}
            failures[key]["count"] += 1

    for target in targets:
        fields = {f["name"]: _strategy(f) for f in target["fields"]}
        if target["method"] == "path":
            strategy = st.fixed_dictionaries({"slug": st.one_of(st.text(max_size=80), st.sampled_from(NASTY))})
        else:
            strategy = st.fixed_dictionaries({}, optional=fields)

        _probe_for(strategy, per_target, lambda data, target=target: send(target, data))()
        verdict.note(
            f"{target['method'].upper():5} {target['path']:<40} fields {sorted({f['name'] for f in target['fields']})}"
        )
    request_logger.level = old_level
    got_request_exception.disconnect(remember)
    verdict.figures = {"examples": counts["examples"], "status_counts": by_status, "failures_sample": failures}
    verdict.check(counts["examples"] >= 2000, f"{counts['examples']} examples sent; answers by status {by_status}")
    verdict.check(counts["500"] == 0, f"500s: {counts['500']}")
    for key, failure in failures.items():
        verdict.note(f"500 x{failure['count']} on {key}, e.g. {failure['example']}")
    return verdict
