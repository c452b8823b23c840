"""JSON log lines for CloudWatch, with the request context and redaction of anything secret.

Every line is one JSON object: ``time``, ``level``, ``logger``, ``message``, the request context
bound by ``jewelry_site.middleware.RequestLogMiddleware`` (``request_id``, ``method``, ``path``,
``user_id``) and any ``extra=`` fields (``event``, ``status``, ``duration_ms``...). Redaction runs
inside the formatter, so no handler can emit a line that skipped it.
"""

import json
import logging
import re
import traceback
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
REDACTED_CARD = "[REDACTED-CARD]"

# Keys whose values are never logged, whatever they hold.
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authori[sz]ation|cookie|csrf|session|api[_-]?key|access[_-]?key"
    r"|credential|signature|card[_-]?number|cvc|cvv",
    re.IGNORECASE,
)
# 13 to 19 digits, optionally grouped by single spaces or dashes: anything that could be a card number.
# Not inside a longer word (hex ids, hashes), so "3b86a1234567890123f" is left alone.
_CARD_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?:\d[ -]?){12,18}\d(?![0-9A-Za-z])")
# "password=...", "token: ...", "Authorization: Bearer ..." inside free text.
_INLINE_SECRET = re.compile(
    r"(?P<key>\b[\w-]*(?:password|passwd|secret|token|api[_-]?key|authorization|cookie)[\w-]*\b)"
    r"(?P<sep>['\"]?\s*[=:]\s*['\"]?)(?P<value>(?:bearer\s+|basic\s+)?[^\s'\",;&]+)",
    re.IGNORECASE,
)
# The one list of paths that carry a token (issue #21): every log line, both access logs' included, is
# scrubbed of them here. Links now carry their token in the query string and are exchanged at once for a
# session and a token-free redirect; these are the links sent before that (guest order links, issue #15;
# password reset and back-in-stock unsubscribe, issue #21), which keep working for a while.
# tests/security/test_tokens.py fails if a URL pattern with a token in its route is missing here;
# tests/security/test_token_logs.py walks every flow through gunicorn and searches every line.
TOKEN_PATHS = (
    re.compile(r"(/orders/view/)[^/\s?\"']+"),
    # /account/password/reset/<uidb64>/<token>/; "set-password" is Django's token-free stand-in.
    re.compile(r"(/password/reset/[^/\s?\"']+/)(?!set-password[/\s?\"']|set-password$)[^/\s?\"']+"),
    re.compile(r"(/unsubscribe/)[^/\s?\"']+"),
)
# Query parameters that carry a token (our links' ``t``/``u``, OIDC's ``code``/``state``, Stripe's client
# secret), wherever a URL with its query string reaches a log line.
_TOKEN_QUERY = re.compile(
    r"([?&](?:t|u|token|code|state|key|sig|signature|[\w-]*client_secret)=)[^&\s\"'#]+", re.IGNORECASE
)
_BEARER = re.compile(r"\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# Postgres puts row and key values in its error text (an IntegrityError's DETAIL): a shopper's name,
# address, phone or e-mail. The column names stay (they say what failed); the values go.
_DB_FAILING_ROW = re.compile(r"(Failing row contains )\(.*\)")
_DB_KEY_VALUES = re.compile(r"(\bKey \(.*?\)=\().*(\))")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Extras that Django attaches and that are either objects or already covered by the context.
_SKIPPED_EXTRAS = frozenset({"request", "server_time"})

# Load-balancer probes: answered before the rest of the stack and kept out of INFO logs.
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})

_request_context: ContextVar[dict[str, Any] | None] = ContextVar("shop_request_context", default=None)


def bind_request_context(**fields: Any) -> Token:
    """Attach request fields to every log line written while handling this request."""
    return _request_context.set(fields)


def update_request_context(**fields: Any) -> None:
    """Add fields (status, user id) to the current request's context, if there is one."""
    context = _request_context.get()
    if context is not None:
        context.update(fields)


def reset_request_context(token: Token) -> None:
    _request_context.reset(token)


def current_request_id() -> str | None:
    context = _request_context.get()
    return context.get("request_id") if context else None


def redact_token_urls(text: str) -> str:
    """Mask the tokens of TOKEN_PATHS and of token-bearing query parameters in ``text``."""
    for pattern in TOKEN_PATHS:
        text = pattern.sub(lambda m: f"{m[1]}{REDACTED}", text)
    return _TOKEN_QUERY.sub(lambda m: f"{m[1]}{REDACTED}", text)


def redact_text(text: str) -> str:
    """Mask card-like numbers, bearer tokens, ``key=value`` secrets and database row values in free text."""
    text = _DB_FAILING_ROW.sub(lambda m: f"{m[1]}({REDACTED})", text)
    text = _DB_KEY_VALUES.sub(lambda m: f"{m[1]}{REDACTED}{m[2]}", text)
    text = _INLINE_SECRET.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", text)
    text = redact_token_urls(text)
    return _CARD_NUMBER.sub(REDACTED_CARD, text)


def redact(value: Any, key: str = "") -> Any:
    """Return ``value`` safe to log: sensitive keys masked whole, strings scrubbed, containers walked."""
    if key and _SENSITIVE_KEY.search(key):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        # Plain integers are ids, counts and durations; a card number would arrive as a string.
        if isinstance(value, int) and not isinstance(value, bool) and _CARD_NUMBER.fullmatch(str(value)):
            return REDACTED_CARD
        return value
    return redact_text(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, redacted; the field names are what CloudWatch metric filters match."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _request_context.get()
        if context:
            entry.update({k: v for k, v in context.items() if v is not None})
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in _SKIPPED_EXTRAS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["exc"] = "".join(traceback.format_exception(*record.exc_info))
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(redact(entry), default=str, ensure_ascii=False)


class SkipHealthProbes(logging.Filter):
    """Drop INFO-and-below lines about the load balancer's health probes (they arrive every few seconds)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        path = getattr(record, "path", None) or (_request_context.get() or {}).get("path")
        return path not in HEALTH_PATHS


def security_event(event: str, **fields: Any) -> None:
    """Log a security event at WARNING under ``shop.security`` with a stable event name."""
    logging.getLogger("shop.security").warning(event, extra={"event": event, **fields})


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal (DJANGO_LOG_FORMAT=text), redacted like the JSON ones."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = current_request_id()
        return redact_text(f"{text} [{request_id}]" if request_id else text)
