"""Forms for the cart: the product page's "Add to bag" form and the cart page's quantity form."""

from django import forms
from django.conf import settings

from catalog.models import SELLABLE_RELATED, Metal, Product, ProductVariant

from .cart import max_quantity_for
from .validators import normalise_text, validate_engraving

# Far above any real quantity, only so absurd numbers (10**12) fail as a form error, not in the DB.
QUANTITY_CEILING = 1000
# Far above SHOP_ENGRAVING_MAX_LENGTH: a longer text is refused with the real limit, never cut.
ENGRAVING_CEILING = 1000


class AddToCartForm(forms.Form):
    """What to put in the bag: the product page posts ``product`` with the chosen ``metal`` and ``size``
    (radio buttons, nothing pre-selected for a ring size); other callers may post a ``variant`` id.

    Every refusal is attached to the field it is about, so the product page can show it there."""

    variant = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    product = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    metal = forms.ChoiceField(required=False, choices=Metal.choices)
    size = forms.CharField(required=False, max_length=8)
    quantity = forms.IntegerField(
        min_value=1,
        max_value=QUANTITY_CEILING,
        initial=1,
        error_messages={
            "required": "Please enter how many you would like.",
            "invalid": "Please enter a whole number.",
            "min_value": "Please choose at least 1.",
            "max_value": "Please choose a smaller quantity.",
        },
    )
    engraving = forms.CharField(required=False, strip=True, max_length=ENGRAVING_CEILING)
    next = forms.CharField(required=False, max_length=2000)

    error_messages = {"unavailable": "Sorry, that piece is not available."}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = settings.SHOP_ENGRAVING_MAX_LENGTH
        self.fields["engraving"].error_messages["max_length"] = f"Engraving can be at most {limit} characters."
        self.product_obj: Product | None = None

    def clean_variant(self) -> ProductVariant | None:
        pk = self.cleaned_data.get("variant")
        if pk is None:
            return None
        # The shop's one "sellable" rule: a piece the pages hide cannot be added, nor its name learned.
        variant = ProductVariant.objects.sellable().select_related(SELLABLE_RELATED).filter(pk=pk).first()
        if variant is None:
            raise forms.ValidationError(self.error_messages["unavailable"], code="unavailable")
        return variant

    def clean_engraving(self) -> str:
        engraving = normalise_text(self.cleaned_data.get("engraving", ""))
        if engraving:
            validate_engraving(engraving)
        return engraving

    def clean(self) -> dict:
        cleaned = super().clean()
        if "variant" in self.errors:
            return cleaned
        variant = cleaned.get("variant")
        if variant is None:
            variant = self._chosen_variant(cleaned)
            cleaned["variant"] = variant
        if variant is None:
            return cleaned
        self.product_obj = variant.product
        if cleaned.get("engraving") and not variant.product.is_engravable:
            self.add_error("engraving", f"{variant.product.name} cannot be engraved.")
        quantity = cleaned.get("quantity")
        limit = max_quantity_for(variant)
        field = "size" if variant.ring_size else "metal"
        if limit == 0:
            self.add_error(field, f"Sorry, {variant.product.name} ({variant.options_label}) is sold out.")
        elif quantity is not None and quantity > limit:
            self.add_error(
                "quantity", f"Only {limit} available in {variant.options_label}: please choose up to {limit}."
            )
        return cleaned

    def _chosen_variant(self, cleaned: dict) -> ProductVariant | None:
        """The variant named by product + metal + size, or None with the error on the field to fix."""
        if "product" in self.errors:
            return None
        product_id = cleaned.get("product")
        if product_id is None:
            self.add_error("variant", "Please choose a piece.")
            return None
        variants = list(
            ProductVariant.objects.sellable()  # the one rule again: a hidden product is "not available"
            .select_related(SELLABLE_RELATED)
            .filter(product_id=product_id)
            .order_by("position", "pk")
        )
        if not variants:
            self.add_error("variant", self.error_messages["unavailable"])
            return None
        self.product_obj = variants[0].product
        metals = list(dict.fromkeys(v.metal for v in variants))
        metal = cleaned.get("metal") or (metals[0] if len(metals) == 1 else "")
        if "metal" in self.errors:
            return None
        if not metal:
            self.add_error("metal", "Please choose a metal.")
        elif metal not in metals:
            self.add_error("metal", f"{self.product_obj.name} is not made in {Metal(metal).label.lower()}.")
            metal = ""
        sized = any(v.ring_size for v in variants)
        size = (cleaned.get("size") or "").strip()
        if sized and not size:
            self.add_error("size", "Please select your size.")
            return None
        if not metal:
            return None
        match = next(
            (v for v in variants if v.metal == metal and v.ring_size == (size if sized else v.ring_size)), None
        )
        if match is None:
            self.add_error("size", f"Size {size} is not made in {Metal(metal).label.lower()}: please choose another.")
        return match


class CartLineQuantityForm(forms.Form):
    """The bag's quantity box: 0 removes the line (said plainly on the page), never a raw validator message."""

    quantity = forms.IntegerField(
        min_value=0,
        max_value=QUANTITY_CEILING,
        error_messages={
            "required": "Please enter a quantity (0 removes the piece from your bag).",
            "invalid": "Please enter a whole number (0 removes the piece from your bag).",
            "min_value": "Please enter a quantity of 0 or more (0 removes the piece from your bag).",
            "max_value": "Please choose a smaller quantity.",
        },
    )

    def __init__(self, *args, max_quantity: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = max_quantity or settings.SHOP_CART_MAX_QUANTITY
        self.fields["quantity"].widget.attrs.update({"min": 0, "max": limit})


def first_error(form: forms.Form) -> str:
    """The first error message of a form, for a one-line flash message."""
    for errors in form.errors.values():
        return errors[0]
    return "Please check the form."
