"""The checkout form: contact, shipping address, delivery, payment and gift message."""

import uuid

from django import forms
from django.conf import settings
from django.core import signing
from django.core.validators import RegexValidator

from accounts.models import Country
from cart.models import Cart
from cart.validators import normalise_text, validate_plain_multiline_text, validate_plain_text

from .models import PaymentMethod, ShippingMethod

CHECKOUT_TOKEN_SALT = "orders.checkout-token"  # noqa: S105 (a signing namespace, not a secret)

postcode_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,14}[A-Za-z0-9]$", "Please enter a valid postcode.")
phone_validator = RegexValidator(r"^\+?[0-9 ()-]{6,30}$", "Please enter a phone number using digits only.")


def checkout_token_issue(*, cart: Cart) -> str:
    """A fresh checkout token, signed together with the cart it belongs to.

    Signing stops a shopper from replaying someone else's token to be shown their order; tying it
    to the cart means a token from before a sign-in merge is refused and the form re-issued.
    """
    return signing.dumps({"t": str(uuid.uuid4()), "c": cart.pk}, salt=CHECKOUT_TOKEN_SALT)


class PlainTextField(forms.CharField):
    """A single-line CharField that normalises to NFC and refuses invisible characters and emoji."""

    def to_python(self, value):
        return normalise_text(super().to_python(value))

    def validate(self, value) -> None:
        super().validate(value)
        validate_plain_text(value)


class CheckoutForm(forms.Form):
    checkout_token = forms.CharField(widget=forms.HiddenInput, max_length=300)
    # The goods total the shopper saw; placement refuses if prices moved since (shipping is chosen here).
    expected_goods_total = forms.DecimalField(
        widget=forms.HiddenInput, max_digits=12, decimal_places=2, min_value=0, required=False
    )

    email = forms.EmailField(label="E-mail", max_length=254)
    full_name = PlainTextField(label="Full name", max_length=120)
    phone = PlainTextField(label="Phone (for the courier)", max_length=32, required=False, validators=[phone_validator])
    address_line1 = PlainTextField(label="Address", max_length=120)
    address_line2 = PlainTextField(label="Address line 2", max_length=120, required=False)
    city = PlainTextField(label="Town or city", max_length=80)
    postcode = PlainTextField(label="Postcode", max_length=16, validators=[postcode_validator])
    country = forms.ChoiceField(choices=Country.choices, initial=Country.GB)
    shipping_method = forms.ChoiceField(
        label="Delivery", choices=ShippingMethod.choices, widget=forms.RadioSelect, initial=ShippingMethod.STANDARD
    )
    payment_method = forms.ChoiceField(
        label="Payment", choices=PaymentMethod.choices, widget=forms.RadioSelect, initial=PaymentMethod.BANK_TRANSFER
    )
    gift_message = forms.CharField(
        label="Gift message",
        max_length=300,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 300}),
        validators=[validate_plain_multiline_text],
    )

    def __init__(self, *args, cart: Cart | None, **kwargs) -> None:
        self.cart = cart
        super().__init__(*args, **kwargs)
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["full_name"].widget.attrs["autocomplete"] = "name"
        self.fields["address_line1"].widget.attrs["autocomplete"] = "address-line1"
        self.fields["address_line2"].widget.attrs["autocomplete"] = "address-line2"
        self.fields["city"].widget.attrs["autocomplete"] = "address-level2"
        self.fields["postcode"].widget.attrs["autocomplete"] = "postal-code"
        self.fields["phone"].widget.attrs["autocomplete"] = "tel"
        if not settings.STRIPE_ENABLED:  # card payments (issue #11) only once Stripe is configured
            self.fields["payment_method"].choices = [
                choice for choice in PaymentMethod.choices if choice[0] != PaymentMethod.CARD
            ]

    def clean_checkout_token(self) -> uuid.UUID:
        try:
            data = signing.loads(self.cleaned_data["checkout_token"], salt=CHECKOUT_TOKEN_SALT)
            token = uuid.UUID(data["t"])
            cart_pk = data["c"]
        except (signing.BadSignature, KeyError, TypeError, ValueError) as error:
            raise forms.ValidationError("This checkout form has expired; please check it and try again.") from error
        if self.cart is None or cart_pk != self.cart.pk:
            raise forms.ValidationError("Your bag changed while you were checking out; please review your order.")
        return token

    def clean_gift_message(self) -> str:
        return self.cleaned_data["gift_message"].strip().replace("\r\n", "\n")

    def clean(self) -> dict:
        cleaned = super().clean()
        if (
            cleaned.get("payment_method") == PaymentMethod.ON_COLLECTION
            and cleaned.get("shipping_method") != ShippingMethod.COLLECT
        ):
            self.add_error("payment_method", "Pay on collection is only possible when you collect from the boutique.")
        return cleaned
