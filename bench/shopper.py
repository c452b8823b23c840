"""A scripted shopper over real HTTP (requests): add to bag, check out. Used by the benchmark's
order-placement loop, the soak and the drills. Form fields are read from the pages themselves,
so the script follows the checkout form as it changes."""

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

import requests

from bench.harness import csrf_secret, fill_form, forms_in


@dataclass
class Paths:
    cart_add: str
    cart_detail: str
    checkout: str

    @classmethod
    def from_urlconf(cls) -> "Paths":
        from django.urls import reverse

        return cls(
            cart_add=reverse("cart:add"), cart_detail=reverse("cart:detail"), checkout=reverse("orders:checkout")
        )


@dataclass
class Outcome:
    ok: bool
    status: int
    seconds: float
    detail: str = ""


class Shopper:
    def __init__(self, base_url: str, paths: Paths, *, email: str = "bench.shopper@example.com") -> None:
        self.base = base_url
        self.paths = paths
        self.email = email
        self.session = requests.Session()
        self.token = csrf_secret()
        self.session.cookies.set("csrftoken", self.token, domain="127.0.0.1", path="/")

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(urljoin(self.base, path), timeout=10, allow_redirects=False, **kwargs)

    def post(self, path: str, data: dict, **kwargs) -> requests.Response:
        headers = {"X-CSRFToken": self.token, "Referer": urljoin(self.base, path), **kwargs.pop("headers", {})}
        data = {"csrfmiddlewaretoken": self.token, **data}
        return self.session.post(
            urljoin(self.base, path), data=data, headers=headers, timeout=30, allow_redirects=False, **kwargs
        )

    def add_to_cart(self, variant_id: int, quantity: int = 1) -> Outcome:
        start = time.perf_counter()
        response = self.post(
            self.paths.cart_add, {"variant": str(variant_id), "quantity": str(quantity), "next": self.paths.cart_detail}
        )
        ok = response.status_code in (200, 302, 303)
        return Outcome(ok, response.status_code, time.perf_counter() - start)

    def checkout_form(self) -> tuple[dict | None, requests.Response]:
        page = self.get(self.paths.checkout)
        if page.status_code != 200:
            return None, page
        posts = [f for f in forms_in(page.text) if f["method"] == "post"]
        # The checkout form is the POST form with the most fields (the header may hold small ones).
        posts.sort(key=lambda f: len(f["fields"]), reverse=True)
        return (posts[0] if posts else None), page

    def place_order(self, *, headers: dict | None = None) -> Outcome:
        """GET the checkout form, fill it, POST it; ok when it redirects away from checkout."""
        form, page = self.checkout_form()
        if form is None:
            return Outcome(False, page.status_code, 0.0, f"no checkout form (GET {page.status_code})")
        data = fill_form(form, email=self.email)
        action = form["action"] or self.paths.checkout
        start = time.perf_counter()
        response = self.post(action, data, headers=headers or {})
        seconds = time.perf_counter() - start
        location = urlparse(response.headers.get("Location", "")).path
        # Success goes on to a confirmation page; back to checkout or the bag means it was refused.
        ok = response.status_code in (302, 303) and location not in ("", self.paths.checkout, self.paths.cart_detail)
        detail = location or response.text[:200]
        return Outcome(ok, response.status_code, seconds, detail)
