"""Signed unsubscribe tokens: they name one sign-up and cannot be forged without SECRET_KEY."""

from django.core import signing

UNSUBSCRIBE_SALT = "restock.unsubscribe"


def restock_unsubscribe_token(*, signup) -> str:
    """The token of a sign-up's unsubscribe link."""
    return signing.dumps(signup.pk, salt=UNSUBSCRIBE_SALT)


def restock_unsubscribe_pk(*, token: str) -> int | None:
    """The sign-up a token names, or None when it was not signed by us."""
    try:
        pk = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return pk if isinstance(pk, int) and not isinstance(pk, bool) else None
