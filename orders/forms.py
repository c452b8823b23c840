"""The checkout form: contact, delivery (or collection), payment and gift message.

Which fields are required depends on what was chosen: collecting from the boutique needs no
delivery address, and a saved address (signed-in shoppers) replaces the typed one. The form checks
the combinations server-side; static/js/checkout.js only hides what cannot apply.
"""

import uuid

from django import forms
from django.conf import settings
from django.core import signing

from accounts.models import POSTAL_ADDRESS_FIELDS, Address, Country
from accounts.text_rules import ADDRESS_FIELD_CLASSES, validate_plain_multiline_text
from cart.models import Cart

from .models import PaymentMethod, ShippingMethod
from .services import ShippingAddress

CHECKOUT_TOKEN_SALT = "orders.checkout-token"  # noqa: S105 (a signing namespace, not a secret)
GIFT_MESSAGE_MAX_LENGTH = 300
# Only a delivery needs these; collection keeps the name and phone (who collects).
DELIVERY_ONLY_FIELDS = ("address_line1", "address_line2", "city", "postcode", "country")
# Payment methods that need the order collected in person; every other method (bank transfer,
# card) works with every delivery method.
COLLECTION_ONLY_PAYMENTS = frozenset({PaymentMethod.ON_COLLECTION})


# What each required field says when left empty, instead of Django's "This field is required."
REQUIRED_MESSAGES = {
    "email": "Please enter your e-mail address, for the order confirmation.",
    "full_name": "Please enter your full name.",
    "address_line1": "Please enter the first line of the delivery address.",
    "city": "Please enter the town or city.",
    "postcode": "Please enter the postcode.",
    "country": "Please choose the country.",
    "shipping_method": "Please choose how you would like to receive your order.",
    "payment_method": "Please choose how you would like to pay.",
}


def checkout_token_issue(*, cart: Cart) -> str:
    """A fresh checkout token, signed together with the cart it belongs to.

    Signing stops a shopper from replaying someone else's token to be shown their order; tying it
    to the cart means a token from before a sign-in merge is refused and the form re-issued.
    """
    return signing.dumps({"t": str(uuid.uuid4()), "c": cart.pk}, salt=CHECKOUT_TOKEN_SALT)


def payment_allowed(*, payment_method: str, shipping_method: str) -> bool:
    """The one rule for which payment goes with which delivery (the form and the page's script use it)."""
    return payment_method not in COLLECTION_ONLY_PAYMENTS or shipping_method == ShippingMethod.COLLECT


class SavedAddressField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Address) -> str:
        return f"{obj.label}: {obj}" if obj.label else str(obj)


GOODS_TOTAL_UNCONFIRMED = "We could not confirm the total you saw; please check your order below and place it again."


class CheckoutForm(forms.Form):
    # The page's order, which is also the error summary's order.
    field_order = (
        "email",
        "full_name",
        "phone",
        "shipping_method",
        "saved_address",
        "address_line1",
        "address_line2",
        "city",
        "postcode",
        "country",
        "payment_method",
        "gift_message",
    )
    checkout_token = forms.CharField(widget=forms.HiddenInput, max_length=300)
    # The goods total the shopper saw; placement refuses if prices moved since (shipping is chosen here).
    # Required (issue #21): without it an order would be placed at whatever the prices are now, unseen.
    expected_goods_total = forms.DecimalField(
        widget=forms.HiddenInput,
        max_digits=12,
        decimal_places=2,
        min_value=0,
        error_messages={
            "required": GOODS_TOTAL_UNCONFIRMED,
            "invalid": GOODS_TOTAL_UNCONFIRMED,
            "min_value": GOODS_TOTAL_UNCONFIRMED,
            "max_digits": GOODS_TOTAL_UNCONFIRMED,
            "max_decimal_places": GOODS_TOTAL_UNCONFIRMED,
            "max_whole_digits": GOODS_TOTAL_UNCONFIRMED,
        },
    )

    email = forms.EmailField(label="E-mail", max_length=254)
    shipping_method = forms.ChoiceField(
        label="Delivery", choices=ShippingMethod.choices, widget=forms.RadioSelect, initial=ShippingMethod.STANDARD
    )
    saved_address = SavedAddressField(
        label="Deliver to",
        queryset=Address.objects.none(),
        required=False,
        widget=forms.RadioSelect,
        empty_label="The address below",
        blank=True,  # a radio list shows the empty choice only when told it may be blank
    )
    full_name = ADDRESS_FIELD_CLASSES["full_name"](label="Full name", max_length=120)
    address_line1 = ADDRESS_FIELD_CLASSES["address_line1"](label="Address", max_length=120)
    address_line2 = ADDRESS_FIELD_CLASSES["address_line2"](label="Address line 2", max_length=120, required=False)
    city = ADDRESS_FIELD_CLASSES["city"](label="Town or city", max_length=80)
    postcode = ADDRESS_FIELD_CLASSES["postcode"](label="Postcode", max_length=16)
    country = forms.ChoiceField(choices=Country.choices, initial=Country.GB)
    phone = ADDRESS_FIELD_CLASSES["phone"](
        label="Phone", max_length=32, required=False, help_text="For the courier, or the boutique if you collect."
    )
    payment_method = forms.ChoiceField(
        label="Payment", choices=PaymentMethod.choices, widget=forms.RadioSelect, initial=PaymentMethod.BANK_TRANSFER
    )
    # No max_length: the browser would silently cut a pasted message; the limit is checked (and
    # counted on the page) instead, so a long message is refused with its length, never shortened.
    gift_message = forms.CharField(
        label="Gift message",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "data-max-length": GIFT_MESSAGE_MAX_LENGTH}),
        validators=[validate_plain_multiline_text],
        help_text=f"Up to {GIFT_MESSAGE_MAX_LENGTH} characters, printed on a card in the box.",
    )

    def __init__(self, *args, cart: Cart | None, user=None, **kwargs) -> None:
        self.cart = cart
        super().__init__(*args, **kwargs)
        if not settings.STRIPE_ENABLED:  # before cleaning: card payments (issue #11) only once Stripe is configured
            self.fields["payment_method"].choices = [
                choice for choice in PaymentMethod.choices if choice[0] != PaymentMethod.CARD
            ]
        autocomplete = {
            "email": "email",
            "full_name": "name",
            "address_line1": "address-line1",
            "address_line2": "address-line2",
            "city": "address-level2",
            "postcode": "postal-code",
            "country": "country",
            "phone": "tel",
        }
        for name, value in autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value
        for name, message in REQUIRED_MESSAGES.items():
            self.fields[name].error_messages["required"] = message
        self.fields["email"].error_messages["invalid"] = "Please enter an e-mail address like name@example.com."
        for name, field in self.fields.items():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{name}-hint"
        self.fields["gift_message"].widget.attrs["aria-describedby"] = "id_gift_message-hint id_gift_message-count"
        if user is not None and user.is_authenticated:
            self.fields["saved_address"].queryset = Address.objects.filter(user=user)
        else:
            del self.fields["saved_address"]
        if self.is_bound:
            self._relax_required()

    @property
    def saved_addresses(self) -> bool:
        return "saved_address" in self.fields

    def _relax_required(self) -> None:
        """Drop the requirements that the shopper's choices make moot, before the fields are cleaned."""
        collecting = self.data.get("shipping_method") == ShippingMethod.COLLECT
        saved = self.saved_addresses and bool(self.data.get("saved_address"))
        for name in DELIVERY_ONLY_FIELDS if collecting or saved else ():
            self.fields[name].required = False

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields and not isinstance(self.fields[name].widget, forms.RadioSelect):
                attrs = self.fields[name].widget.attrs
                attrs["aria-invalid"] = "true"
                attrs["aria-describedby"] = " ".join(filter(None, [f"id_{name}-error", attrs.get("aria-describedby")]))

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
        message = self.cleaned_data["gift_message"].replace("\r\n", "\n").strip()
        if len(message) > GIFT_MESSAGE_MAX_LENGTH:
            raise forms.ValidationError(
                f"Your gift message has {len(message)} characters; please shorten it to "
                f"{GIFT_MESSAGE_MAX_LENGTH} or fewer.",
                code="gift_message_length",
            )
        return message

    def clean(self) -> dict:
        cleaned = super().clean()
        shipping, payment = cleaned.get("shipping_method"), cleaned.get("payment_method")
        if shipping and payment and not payment_allowed(payment_method=payment, shipping_method=shipping):
            self.add_error("payment_method", "Pay on collection is only possible when you collect from the boutique.")
        saved = cleaned.get("saved_address")
        ignored = set()
        if saved is not None:
            # The saved address is the one delivered to: what was typed in the address fields is not used
            # (name and phone stay the contact's own).
            cleaned.update({name: getattr(saved, name) for name in DELIVERY_ONLY_FIELDS})
            ignored |= set(DELIVERY_ONLY_FIELDS)
        if shipping == ShippingMethod.COLLECT:
            # Collected in person: no home address is kept on the order.
            cleaned.update(dict.fromkeys(DELIVERY_ONLY_FIELDS, ""))
            cleaned["country"] = Country.GB
            ignored |= set(DELIVERY_ONLY_FIELDS)
        for name in ignored:
            self.errors.pop(name, None)
        return cleaned

    def placement(self) -> dict:
        """The cleaned values ``order_place`` takes (besides cart and user)."""
        data = self.cleaned_data
        return {
            "checkout_token": data["checkout_token"],
            "email": data["email"],
            "shipping_address": ShippingAddress(**{name: data[name] for name in POSTAL_ADDRESS_FIELDS}),
            "shipping_method": data["shipping_method"],
            "payment_method": data["payment_method"],
            "gift_message": data["gift_message"],
            "expected_goods_total": data["expected_goods_total"],
        }

    def refresh_goods_total(self, total) -> None:
        """After a price change: keep everything typed, show and expect the new total on the next submit."""
        self.data = self.data.copy()
        self.data["expected_goods_total"] = str(total)

    def refresh_token(self, token: str, total) -> None:
        """After an expired or foreign token: a fresh one, so the shopper can simply submit again."""
        self.refresh_goods_total(total)
        self.data["checkout_token"] = token

    def field_errors(self) -> list[tuple[str, str, str]]:
        """(field id, label, message) for each visible field's errors, in form order, for the error summary."""
        found = []
        for name, field in self.fields.items():
            if name in self.errors and not field.widget.is_hidden:
                bound = self[name]
                target = bound.id_for_label or f"id_{name}"
                if isinstance(field.widget, forms.RadioSelect):
                    target = f"id_{name}_0"
                for message in self.errors[name]:
                    found.append((target, str(field.label or name), message))
        return found

    def summary_errors(self) -> list[str]:
        """Errors not tied to a visible field (the token, a changed total, the form as a whole)."""
        messages = list(self.non_field_errors())
        for name in ("checkout_token", "expected_goods_total"):
            messages.extend(self.errors.get(name, []))
        return messages
