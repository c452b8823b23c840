"""Text rules for what shoppers type: engraving text, names, addresses and gift messages.

Invisible and direction-changing characters (zero-width spaces, right-to-left overrides, NUL and other
controls) are refused everywhere: they make orders unreadable for staff and can disguise text.
"""

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError

HEART = "♥"
ENGRAVING_PUNCTUATION = frozenset(" &.,'’-" + HEART)
# Unicode categories never accepted: controls, format (zero-width, bidi overrides), surrogates,
# private use, unassigned.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def normalise_text(value: str) -> str:
    """NFC so that 'é' typed as e + combining accent counts and validates as one letter."""
    return unicodedata.normalize("NFC", value).strip()


def _is_latin_letter(char: str) -> bool:
    return unicodedata.category(char).startswith("L") and unicodedata.name(char, "").startswith("LATIN ")


def validate_engraving(value: str) -> None:
    """Latin letters (accents welcome), digits 0-9, spaces and & . , ' - ♥; at most SHOP_ENGRAVING_MAX_LENGTH."""
    limit = settings.SHOP_ENGRAVING_MAX_LENGTH
    if len(value) > limit:
        raise ValidationError(f"Engraving can be at most {limit} characters.", code="engraving_length")
    bad = [c for c in value if not (_is_latin_letter(c) or c in "0123456789" or c in ENGRAVING_PUNCTUATION)]
    if bad:
        raise ValidationError(
            "Engraving may use letters (accents welcome), numbers, spaces and & . , ' - ♥ only.",
            code="engraving_characters",
        )


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


def validate_plain_multiline_text(value: str) -> None:
    validate_plain_text(value, multiline=True)
