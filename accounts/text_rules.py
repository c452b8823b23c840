"""Text rules for names and addresses, shared by saved addresses (accounts) and the checkout (orders).

They live here, the lowest app both may import (orders stands above accounts), so a saved address can
never hold text that the checkout would then refuse. Invisible and direction-changing characters
(zero-width spaces, right-to-left overrides, NUL and other controls) and emoji are refused: they make
orders unreadable for staff and can disguise text.
"""

import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

HEART = "♥"  # the one symbol shoppers may type (gift messages, engravings)
# Unicode categories never accepted: controls, format (zero-width, bidi overrides), surrogates,
# private use, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})

postcode_validator = RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9 -]{1,14}[A-Za-z0-9]$", "Please enter a valid postcode.")
phone_validator = RegexValidator(r"^\+?[0-9 ()-]{6,30}$", "Please enter a phone number using digits only.")


def normalise_text(value: str) -> str:
    """NFC so that 'é' typed as e + combining accent counts and validates as one letter."""
    return unicodedata.normalize("NFC", value).strip()


def validate_plain_text(value: str, *, multiline: bool = False) -> None:
    """Refuse invisible/control characters and emoji; keep letters of any script, digits and punctuation."""
    for char in value:
        if multiline and char in "\n\r":
            continue
        category = unicodedata.category(char)
        if category in _FORBIDDEN_CATEGORIES or (category == "So" and char != HEART):
            raise ValidationError(
                "Please use letters, numbers and ordinary punctuation only (no emoji or invisible characters).",
                code="unusual_characters",
            )


def plain_text_clean(value: str) -> str:
    """What :func:`validate_plain_text` would accept, made from text we cannot send back (a provider's
    claims): forbidden characters become spaces, runs of spaces one space."""
    kept = []
    for char in normalise_text(value):
        category = unicodedata.category(char)
        forbidden = category in _FORBIDDEN_CATEGORIES or (category == "So" and char != HEART)
        kept.append(" " if forbidden else char)
    return " ".join("".join(kept).split())


def validate_plain_multiline_text(value: str) -> None:
    validate_plain_text(value, multiline=True)


class PlainTextField(forms.CharField):
    """A single-line CharField that normalises to NFC and refuses invisible characters and emoji."""

    def to_python(self, value):
        return normalise_text(super().to_python(value))

    def validate(self, value) -> None:
        super().validate(value)
        validate_plain_text(value)


class PostcodeField(PlainTextField):
    default_validators = [postcode_validator]


class PhoneField(PlainTextField):
    default_validators = [phone_validator]


# Form field classes for the postal text fields (country is a choice): the saved-address form and
# the checkout form both build their fields from this, so the two cannot drift apart.
ADDRESS_FIELD_CLASSES: dict[str, type[forms.CharField]] = {
    "full_name": PlainTextField,
    "phone": PhoneField,
    "address_line1": PlainTextField,
    "address_line2": PlainTextField,
    "city": PlainTextField,
    "postcode": PostcodeField,
}
