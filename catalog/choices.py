"""What a product page offers to choose: metal swatches, ring sizes, the variant they select, and the
photos and size guide that go with them. Plain functions over the variants in hand (no query)."""

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from .money import format_money
from .templatetags.shop_tags import variant_availability


def size_guide_url() -> str:
    """SHOP_SIZE_GUIDE_URL: a URL name ("pages:size-guide") or a path; empty or unknown means no link."""
    target = getattr(settings, "SHOP_SIZE_GUIDE_URL", "") or ""
    if not target:
        return ""
    if target.startswith(("/", "https://", "http://")):
        return target
    try:
        return reverse(target)
    except NoReverseMatch:
        return ""


def variant_options(variants, *, metal: str, size: str) -> dict:
    """The metal swatches and ring sizes of a product page, and the variant they select (None until a
    ring has a size). A size is marked sold out where it is sold out in the chosen metal."""
    metals, sizes = {}, {}
    for v in variants:
        entry = metals.setdefault(
            v.metal, {"value": v.metal, "label": v.get_metal_display(), "prices": [], "available": False}
        )
        entry["prices"].append(v.price)
        entry["available"] |= v.is_available
        if v.ring_size:
            s = sizes.setdefault(v.ring_size, {"value": v.ring_size, "available": False, "in_metal": False})
            s["available"] |= v.is_available
            if v.metal == metal:
                s["in_metal"] |= v.is_available
    for entry in metals.values():
        entry["price"] = min(entry["prices"])
        entry["checked"] = entry["value"] == metal
    for entry in sizes.values():
        entry["checked"] = entry["value"] == size
    selected = next(
        (v for v in variants if v.metal == metal and (v.ring_size == size if sizes else True)),
        None,
    )
    prices = metals.get(metal, {}).get("prices") or [v.price for v in variants]
    varies = min(prices) != max(prices)
    return {
        "metals": list(metals.values()),
        "sizes": list(sizes.values()),
        "selected": selected,
        "metal_price": min(prices),
        "metal_price_varies": varies,
    }


def photos_for_metal(images: list, *, metal: str) -> list:
    """The photos with the first one of the chosen metal moved to the front (what is seen without JS)."""
    first = next((i for i in images if i.shown_variant is not None and i.shown_variant.metal == metal), None)
    if first is None or images[0] is first:
        return images
    return [first, *(i for i in images if i is not first)]


def variant_data(variants) -> list[dict]:
    """The variants for js/product-options.js (a json_script block): price and availability per choice."""
    return [
        {
            "id": v.pk,
            "metal": v.metal,
            "metal_label": v.get_metal_display(),
            "size": v.ring_size,
            "price": format_money(v.price),
            "available": v.is_available,
            "low": v.is_low_stock,
            "availability": f"{variant_availability(v)} in {v.options_label}",
        }
        for v in variants
    ]
