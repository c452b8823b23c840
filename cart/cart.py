"""The Cart object API the views use: find the shopper's cart and price it from the database.

Nothing here trusts the session or a form for a price or a stock level: each summary reads the
variant rows afresh. Writes go through ``cart.services``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils.crypto import salted_hmac

from catalog.models import SELLABLE_RELATED, ProductImage, ProductVariant

from .models import Cart, CartLine

SESSION_KEY = "cart_token"
FIRST_CART_SALT = "cart.first-cart-token"


def session_cart_token(request: HttpRequest) -> uuid.UUID | None:
    """The anonymous cart's token from the session, or None (a malformed value counts as none)."""
    raw = request.session.get(SESSION_KEY)
    if not raw:
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        return None


def cart_for_request(request: HttpRequest) -> Cart | None:
    """The signed-in user's cart, or the anonymous cart named in the session; None when there is none."""
    if request.user.is_authenticated:
        return Cart.objects.filter(user=request.user).first()
    token = session_cart_token(request)
    if token is None:
        return None
    return Cart.objects.filter(token=token, user__isnull=True).first()


def cart_get_or_create_for_request(request: HttpRequest) -> Cart:
    """The shopper's cart, created on first use; an anonymous cart's token goes into the session."""
    cart = cart_for_request(request)
    if cart is not None:
        return cart
    if request.user.is_authenticated:
        cart, _ = Cart.objects.get_or_create(user=request.user)  # one per user (unique): a twin request finds it
        return cart
    token = first_cart_token(request)
    try:
        with transaction.atomic():
            cart = Cart.objects.create(token=token)
    except IntegrityError:
        # The browser's other tab created this cart a moment ago: both adds land in it. (A token that
        # belongs to a signed-in user's cart is never shared: then a fresh random cart.)
        cart = Cart.objects.filter(token=token, user__isnull=True).first() or Cart.objects.create()
    request.session[SESSION_KEY] = str(cart.token)
    return cart


def first_cart_token(request: HttpRequest) -> uuid.UUID:
    """The token for a browser's first anonymous cart, the same in every tab of that browser.

    Two tabs adding at once have no cart and, often, no session yet (each request starts its own and
    the browser keeps one cookie), so the session cannot name their shared cart. What both tabs
    already send is the CSRF cookie (set when the product page rendered the add form): the token is an
    HMAC of its secret under SECRET_KEY, so both requests name the same cart and the database's unique
    token lets only one create it. The secret changes at sign-in, and in production the cookie is
    ``__Host-`` prefixed (no other host can plant one). A request without one gets a random token.
    """
    secret = request.META.get("CSRF_COOKIE")
    if not secret:
        return uuid.uuid4()
    return uuid.UUID(bytes=salted_hmac(FIRST_CART_SALT, secret, algorithm="sha256").digest()[:16])


def max_quantity_for(variant: ProductVariant) -> int:
    """How many of a variant one line may hold: the stock, capped by SHOP_CART_MAX_QUANTITY."""
    if not variant.is_sellable:
        return 0
    return max(0, min(variant.stock, settings.SHOP_CART_MAX_QUANTITY))


@dataclass(frozen=True)
class CartItem:
    """One priced line, read from the database at the moment of display or checkout."""

    line: CartLine
    variant: ProductVariant
    quantity: int
    engraving: str
    unit_price: Decimal
    engraving_fee: Decimal  # per piece
    max_quantity: int

    @property
    def image(self) -> ProductImage | None:
        """Read from the photos ``cart_lines`` prefetched (no query then)."""
        return _line_image(self.line)

    @property
    def engraving_total(self) -> Decimal:
        return self.engraving_fee * self.quantity

    @property
    def line_total(self) -> Decimal:
        return (self.unit_price + self.engraving_fee) * self.quantity

    @property
    def product(self):
        return self.variant.product


def free_delivery_shortfall(*, goods_total: Decimal) -> Decimal:
    """How much more the bag must come to for free standard delivery (0.00 once it qualifies).

    The one free-delivery rule: goods_total is the total before delivery, pieces and engraving fees
    both count. ``orders.services.shipping_cost`` and the bag's wording both use it.
    """
    return max(Decimal("0.00"), settings.SHOP_FREE_SHIPPING_THRESHOLD - goods_total)


@dataclass(frozen=True)
class CartSummary:
    items: list[CartItem] = field(default_factory=list)

    @property
    def subtotal(self) -> Decimal:
        """Merchandise only (engraving fees are ``engraving_total``)."""
        return sum((i.unit_price * i.quantity for i in self.items), Decimal("0.00"))

    @property
    def engraving_total(self) -> Decimal:
        return sum((i.engraving_total for i in self.items), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.subtotal + self.engraving_total

    @property
    def free_delivery_shortfall(self) -> Decimal:
        return free_delivery_shortfall(goods_total=self.total)

    @property
    def count(self) -> int:
        return sum(i.quantity for i in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def cart_lines(cart: Cart | None) -> list[CartLine]:
    """The cart's lines with variant, product and product photos: two queries whatever the size."""
    if cart is None:
        return []
    # Each photo's variant comes joined in (no extra query): a line's thumbnail is its metal's photo.
    photos = Prefetch(
        "variant__product__images", queryset=ProductImage.objects.select_related("variant").order_by("position", "pk")
    )
    # The category too: max_quantity_for applies the one "sellable" rule (catalog.models).
    lines = cart.lines.select_related(f"variant__{SELLABLE_RELATED}").prefetch_related(photos)
    return list(lines.order_by("created_at", "pk"))


def _line_image(line: CartLine) -> ProductImage | None:
    """The photo of this very variant, else one of the same metal (a ring size has no photo of its own),
    else the product's first photo: a platinum line never shows the yellow gold photo."""
    images = list(line.variant.product.images.all())
    exact = next((i for i in images if i.variant_id == line.variant_id), None)
    if exact is not None:
        return exact
    metal = line.variant.metal
    same_metal = next((i for i in images if i.variant_id is not None and i.variant.metal == metal), None)
    return same_metal or (images[0] if images else None)


def cart_summary(cart: Cart | None, *, lines: list[CartLine] | None = None) -> CartSummary:
    """Price each line from its variant row as read now (call after ``cart_reconcile`` for display)."""
    lines = cart_lines(cart) if lines is None else lines
    fee: Decimal = settings.SHOP_ENGRAVING_FEE
    items = [
        CartItem(
            line=line,
            variant=line.variant,
            quantity=line.quantity,
            engraving=line.engraving,
            unit_price=line.variant.price,
            engraving_fee=fee if line.engraving else Decimal("0.00"),
            max_quantity=max_quantity_for(line.variant),
        )
        for line in lines
    ]
    return CartSummary(items=items)
