"""Two app instances on different ports sharing one Postgres: a bag filled through one is seen
through the other; an order placed through one shows in the other's admin."""

import requests

from bench.drills.common import Context, Verdict, staff_cookie
from bench.harness import Gunicorn
from bench.shopper import Paths, Shopper


def run(ctx: Context) -> Verdict:
    from django.apps import apps

    from catalog.models import ProductVariant

    verdict = Verdict("two-instances")
    paths = Paths.from_urlconf()
    variant = ProductVariant.objects.select_related("product").get(pk=ctx.variants[len(ctx.variants) // 2])
    with Gunicorn(ctx.work, name="one") as one, Gunicorn(ctx.work, name="two") as two:
        verdict.note(f"instance one {one.url} (pid {one.process.pid}), instance two {two.url} (pid {two.process.pid})")
        shopper = Shopper(one.url, paths, email="two.instances@example.com")
        verdict.check(shopper.add_to_cart(variant.pk).ok, f"added {variant.sku} through one")
        shopper.base = two.url
        bag = shopper.get(paths.cart_detail)
        verdict.check(
            bag.status_code == 200 and variant.product.name in bag.text,
            f"bag page on two: {bag.status_code}, shows '{variant.product.name}': {variant.product.name in bag.text}",
        )
        shopper.base = one.url
        placed = shopper.place_order()
        verdict.check(placed.ok, f"order placed through one: {placed.status} -> {placed.detail[:80]}")
        order_model = apps.get_model("orders", "Order")
        order = order_model.objects.order_by("-pk").first()
        if order is None:
            verdict.check(False, "no order row found")
            return verdict
        name, value = staff_cookie()
        admin_list = requests.get(f"{two.url}/admin/orders/order/", cookies={name: value}, timeout=10)
        change_url = f"/admin/orders/order/{order.pk}/change/"
        verdict.check(
            admin_list.status_code == 200 and change_url in admin_list.text,
            f"two's admin order list: {admin_list.status_code}, links to order {order} ({change_url}): "
            f"{change_url in admin_list.text}",
        )
        detail = requests.get(f"{two.url}{change_url}", cookies={name: value}, timeout=10)
        verdict.check(detail.status_code == 200, f"two's admin order page: {detail.status_code}")
    return verdict
