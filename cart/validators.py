"""Engraving text rules (names, addresses and gift messages follow ``accounts.text_rules``).

The cart cannot import accounts, so the NFC normalisation is repeated here in one line; the
engraving rule is stricter than the address rules anyway (Latin letters only, a fixed length).
"""

import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError

HEART = "♥"
ENGRAVING_PUNCTUATION = frozenset(" &.,'’-" + HEART)


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
