"""JSON log shape, redaction, request ids, access lines and security events."""

import json
import logging
import uuid

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from jewelry_site.logs import JsonFormatter, TextFormatter, redact, redact_text
from tests.factories import CategoryFactory, StaffUserFactory, UserFactory


def format_record(msg: str, *args, level: int = logging.INFO, exc_info=None, **extra) -> dict:
    record = logging.LogRecord("shop.test", level, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return json.loads(JsonFormatter().format(record))


def test_line_shape():
    line = format_record("order %s placed", "A-100", event="order_placed", order_id=12)
    assert set(line) == {"time", "level", "logger", "message", "event", "order_id"}
    assert line["level"] == "INFO"
    assert line["logger"] == "shop.test"
    assert line["message"] == "order A-100 placed"
    assert line["time"].endswith("+00:00")
    assert (line["event"], line["order_id"]) == ("order_placed", 12)


def test_exception_is_one_json_line():
    try:
        raise ValueError("card 4111 1111 1111 1111 refused")
    except ValueError:
        import sys

        text = JsonFormatter().format(
            logging.LogRecord("shop.test", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
        )
    assert "\n" not in text
    line = json.loads(text)
    assert line["exc_type"] == "ValueError"
    assert "Traceback" in line["exc"]
    assert "4111 1111 1111 1111" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paid with 4242424242424242 today", "paid with [REDACTED-CARD] today"),
        ("card 4111-1111-1111-1111.", "card [REDACTED-CARD]."),
        ("amex 3782 822463 10005", "amex [REDACTED-CARD]"),
        ("password=hunter2 next", "password=[REDACTED] next"),
        ('{"client_secret": "abc123"}', '{"client_secret": "[REDACTED]"}'),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig", "Authorization: [REDACTED]"),
        ("sent Bearer eyJhbGciOiJSUzI1NiJ9.payload", "sent Bearer [REDACTED]"),
        ("Cookie: __Host-sessionid=abcdef", "Cookie: [REDACTED]"),
        # Not card-like: ids, hashes, short numbers and prices stay readable.
        ("request 3b86a1234567890123456f1b6e", "request 3b86a1234567890123456f1b6e"),
        ("order 1234 total 1250.00", "order 1234 total 1250.00"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_redact_structures_by_key():
    data = {
        "password": "hunter2",
        "new_password1": "x",
        "headers": {"Authorization": "Basic Zm9vOmJhcg==", "Accept": "text/html"},
        "csrfmiddlewaretoken": "t0k3n",
        "username": "ada",
        "cards": ["4000056655665556"],
        "amount": 4000056655665556,
        "empty_token": "",
    }
    assert redact(data) == {
        "password": "[REDACTED]",
        "new_password1": "[REDACTED]",
        "headers": {"Authorization": "[REDACTED]", "Accept": "text/html"},
        "csrfmiddlewaretoken": "[REDACTED]",
        "username": "ada",
        "cards": ["[REDACTED-CARD]"],
        "amount": "[REDACTED-CARD]",
        "empty_token": "",
    }


def test_formatter_redacts_extras_and_message():
    line = format_record(
        "login for %s with password=%s", "ada", "hunter2", password="hunter2", card_number="4111111111111111"
    )
    text = json.dumps(line)
    assert "hunter2" not in text
    assert "4111111111111111" not in text
    assert line["password"] == "[REDACTED]"


def test_text_formatter_redacts_too():
    record = logging.LogRecord("shop.test", logging.INFO, __file__, 1, "token=abc 4111111111111111", (), None)
    assert TextFormatter().format(record).endswith("INFO shop.test token=[REDACTED] [REDACTED-CARD]")


@pytest.mark.django_db
def test_request_id_generated_and_returned(client, json_log):
    response = client.get("/no-such-page/")
    request_id = response["X-Request-ID"]
    assert uuid.UUID(request_id).version == 4
    access = [line for line in json_log() if line["logger"] == "shop.access"]
    assert len(access) == 1
    line = access[0]
    assert {k: line[k] for k in ("level", "request_id", "method", "path", "status")} == {
        "level": "INFO",
        "request_id": request_id,
        "method": "GET",
        "path": "/no-such-page/",
        "status": 404,
    }
    assert isinstance(line["duration_ms"], float)
    # Django's own "Not Found" line carries the same request id.
    assert any(x["logger"] == "django.request" and x["request_id"] == request_id for x in json_log())


@pytest.mark.django_db
def test_the_request_id_is_always_ours_and_a_callers_is_kept_apart_only_when_safe(client, json_log):
    """Issue #21: a client's X-Request-ID passes our proxies untouched, so it never becomes our id (the
    client could file its lines under another request's); a short, safe one is logged as client_request_id."""
    response = client.get("/shop/", HTTP_X_REQUEST_ID="lb-abc.123:9")
    ours = response["X-Request-ID"]
    assert ours != "lb-abc.123:9"
    assert uuid.UUID(ours)
    (access,) = [line for line in json_log() if line["logger"] == "shop.access"]
    assert (access["request_id"], access["client_request_id"]) == (ours, "lb-abc.123:9")
    for unsafe in ("x" * 200, "evil\nline", "<script>", "a b"):
        returned = client.get("/healthz", HTTP_X_REQUEST_ID=unsafe)["X-Request-ID"]
        assert returned != unsafe
        assert uuid.UUID(returned)
    assert not [line for line in json_log() if line.get("client_request_id") not in (None, "lb-abc.123:9")]


@pytest.mark.django_db
def test_user_id_logged_when_signed_in(client, json_log):
    user = UserFactory()
    client.force_login(user)
    client.get(reverse("accounts:profile"))
    access = [line for line in json_log() if line["logger"] == "shop.access"]
    assert access[-1]["user_id"] == user.pk
    assert access[-1]["status"] == 200


@pytest.mark.django_db
def test_health_probes_stay_out_of_info_logs(client, json_log, settings):
    from jewelry_site.logs import SkipHealthProbes

    client.get("/healthz")
    probe_lines = [line for line in json_log() if line.get("path") == "/healthz"]
    # The middleware writes the probe at DEBUG, and the console filter drops INFO-or-lower probe lines.
    assert [line["level"] for line in probe_lines] == ["DEBUG"]
    record = logging.makeLogRecord({"levelno": logging.INFO, "path": "/readyz"})
    assert SkipHealthProbes().filter(record) is False
    assert SkipHealthProbes().filter(logging.makeLogRecord({"levelno": logging.WARNING, "path": "/readyz"}))


@pytest.mark.django_db
def test_failed_sign_in_is_a_security_event_without_the_password(client, json_log, settings):
    settings.OIDC_ENABLED = False
    UserFactory(username="ada-lovelace")
    response = client.post(reverse("accounts:login"), {"username": "ada-lovelace", "password": "not-her-Pa55word"})
    assert response.status_code == 200
    events = [line for line in json_log() if line.get("event") == "login_failed"]
    assert len(events) == 1
    event = events[0]
    assert (event["level"], event["logger"], event["failures"]) == ("WARNING", "shop.security", 1)
    assert len(event["username_digest"]) == 12
    assert event["request_id"] == response["X-Request-ID"]
    # Neither the password nor the name as typed (people type passwords there) reaches any log line.
    assert "not-her-Pa55word" not in json.dumps(json_log())
    assert "ada-lovelace" not in json.dumps(json_log())


@pytest.mark.django_db
def test_admin_change_is_a_security_event(json_log):
    staff = StaffUserFactory()
    category = CategoryFactory(name="Rings")
    LogEntry.objects.create(
        user=staff,
        content_type=ContentType.objects.get_for_model(category),
        object_id=str(category.pk),
        object_repr=str(category),
        action_flag=ADDITION,
        change_message="[]",
    )
    events = [line for line in json_log() if line.get("event") == "admin_change"]
    assert len(events) == 1
    assert {k: events[0][k] for k in ("level", "action", "admin_user_id", "model", "object_id")} == {
        "level": "WARNING",
        "action": "add",
        "admin_user_id": staff.pk,
        "model": "catalog.category",
        "object_id": str(category.pk),
    }


@pytest.mark.django_db
def test_admin_change_through_the_admin(client, json_log):
    staff = StaffUserFactory()
    category = CategoryFactory(name="Rings")
    client.force_login(staff)
    url = reverse("admin:catalog_category_delete", args=[category.pk])
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    events = [line for line in json_log() if line.get("event") == "admin_change"]
    assert [(e["action"], e["admin_user_id"], e["object_id"]) for e in events] == [
        ("delete", staff.pk, str(category.pk))
    ]


@pytest.mark.urls("tests.deploy.urls_boom")
def test_failed_critical_post_logs_its_event(client, json_log, settings):
    settings.SHOP_FAILURE_EVENTS = {"boom": "order_place_failed"}
    client.raise_request_exception = False
    assert client.get("/boom/").status_code == 200
    response = client.post("/boom/")
    assert response.status_code == 500
    events = [line for line in json_log() if line.get("event") == "order_place_failed"]
    assert len(events) == 1
    assert (events[0]["level"], events[0]["status"]) == ("ERROR", 500)
    assert events[0]["request_id"] == response["X-Request-ID"]
    # The traceback line of the same request carries the id too, for Logs Insights.
    errors = [line for line in json_log() if line["logger"] == "django.request" and line["level"] == "ERROR"]
    assert errors[0]["request_id"] == response["X-Request-ID"]
    assert errors[0]["exc_type"] == "RuntimeError"
