"""One-line text: the rule for names staff and shoppers type (product, category, collection, shopper names).

A standalone module, not an app: catalog and accounts both stand on nothing of ours (tests/test_layers.py),
so the rule they share lives below both, and imports nothing of ours (a test in tests/test_layers.py holds
that). A name is one line: no CR/LF (they break e-mail subjects and headers), no other control characters
(NUL, tab, DEL, C1), no Unicode line/paragraph separators, and no direction-changing characters (bidi
embeddings, overrides and isolates, the LRM/RLM/ALM marks), which can make a name read as something else.

``text_one_line_check`` is the validator (on model fields, so admin forms, the CSV import and any form built
from the model refuse the same text); ``text_one_line`` flattens text already stored, for places that must
never fail on it (e-mail subjects).
"""

import re
import unicodedata

from django.core.exceptions import ValidationError

# Bidi controls: ALM, LRM, RLM, the embeddings/overrides U+202A–U+202E and the isolates U+2066–U+2069.
BIDI_CONTROLS = (
    frozenset("\u061c\u200e\u200f")
    | frozenset(map(chr, range(0x202A, 0x202F)))
    | frozenset(map(chr, range(0x2066, 0x206A)))
)
# Controls (CR, LF, tab, NUL, DEL, C1), line and paragraph separators, lone surrogates.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
ONE_LINE_MESSAGE = (
    "Please keep this to one line of ordinary text: no line breaks, tabs, control characters or text-direction marks."
)
_SPACES = re.compile(r"\s+")


def text_is_forbidden_char(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) in _FORBIDDEN_CATEGORIES


def text_one_line_check(value: str) -> None:
    """Validator: refuse text with a line break, another control character or a bidi control."""
    if any(text_is_forbidden_char(char) for char in str(value)):
        raise ValidationError(ONE_LINE_MESSAGE, code="not_one_line")


def text_one_line(value: object) -> str:
    """The text as one clean line: every forbidden character becomes a space, runs of spaces one space."""
    text = "".join(" " if text_is_forbidden_char(char) else char for char in str(value))
    return _SPACES.sub(" ", text).strip()


# Anything a mail client would turn into a link: a scheme URL, "www.", or a bare domain (labels ending in a
# top-level domain of letters, in any case and any script: "pay-here.example", "Evil.Com", "пример.рф"; the
# ideographic and full-width stops count as dots, since hostnames map them to "."). Domains are matched
# case-insensitively by mail clients, so a name written "St.John" loses that word too: failing closed is
# the point in an e-mail to an address nobody confirmed, and the order page shows the name as typed.
_DOT = "[.\u3002\uff0e\uff61]"
_LINKS = re.compile(
    r"(?i:\b[a-z][a-z0-9+.-]*://\S*)"
    r"|(?i:\bwww\.\S*)"
    rf"|\b(?:[\w-]+{_DOT})+[^\W\d_]{{2,63}}\b(?:/\S*)?",
)
LINK_REMOVED = "[link removed]"


def text_without_links(value: object) -> str:
    """The text with anything a mail client would make a link replaced by "[link removed]"."""
    return _LINKS.sub(LINK_REMOVED, str(value))
