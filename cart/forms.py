"""Forms for the cart: the product page's "Add to bag" form and the cart page's quantity form."""

from django import forms
from django.conf import settings

from catalog.models import ProductVariant

from .cart import max_quantity_for
from .validators import normalise_text, validate_engraving

# Far above any real quantity, only so absurd numbers (10**12) fail as a form error, not in the DB.
QUANTITY_CEILING = 1000


class AddToCartForm(forms.Form):
    variant = forms.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = forms.IntegerField(min_value=1, max_value=QUANTITY_CEILING, initial=1)
    engraving = forms.CharField(required=False, strip=True, max_length=200)
    next = forms.CharField(required=False, max_length=2000)

    error_messages = {"unavailable": "Sorry, that piece is not available."}

    def clean_variant(self) -> ProductVariant:
        variant = (
            ProductVariant.objects.select_related("product")
            .filter(pk=self.cleaned_data["variant"], is_active=True, product__is_active=True)
            .first()
        )
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
        variant = cleaned.get("variant")
        if variant is None:
            return cleaned
        if cleaned.get("engraving") and not variant.product.is_engravable:
            self.add_error("engraving", f"{variant.product.name} cannot be engraved.")
        quantity = cleaned.get("quantity")
        limit = max_quantity_for(variant)
        if limit == 0:
            self.add_error("variant", f"Sorry, {variant.product.name} is sold out.")
        elif quantity is not None and quantity > limit:
            self.add_error("quantity", f"You can add up to {limit} of {variant.product.name}.")
        return cleaned


class CartLineQuantityForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=QUANTITY_CEILING)

    def __init__(self, *args, max_quantity: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        limit = max_quantity or settings.SHOP_CART_MAX_QUANTITY
        self.fields["quantity"].widget.attrs.update({"min": 1, "max": limit})


def first_error(form: forms.Form) -> str:
    """The first error message of a form, for a one-line flash message."""
    for errors in form.errors.values():
        return errors[0]
    return "Please check the form."
