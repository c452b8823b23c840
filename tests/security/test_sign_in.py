# ruff: noqa: F811 - the fixtures imported below are requested by name
"""Sign-in limits and what sign-in leaves in logs (issue #15, "Sign-in and sessions").

The password form's failures are counted by django-axes in Postgres (accounts/lockout.py). Provider
(OIDC) cases run against the real test provider in tests/accounts/test_oidc_flow.py:
``test_an_expired_state_is_refused_with_its_own_page`` and
``test_a_staff_member_removed_from_the_group_loses_the_admin_within_the_bound``.
"""

import ast
import json
import logging
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.test import Client
from django.urls import reverse

from accounts.lockout import username_digest
from accounts.models import Address
from tests.accounts.conftest import apply_sign_in_env, oidc_off, oidc_on  # noqa: F401 - fixtures
from tests.factories import StaffUserFactory, UserFactory
from tests.threads import run_together

PASSWORD = "correct horse battery staple"
REPO = Path(__file__).resolve().parents[2]
HOME, OFFICE, ELSEWHERE = "203.0.113.7", "198.51.100.20", "192.0.2.33"


@pytest.fixture(autouse=True)
def _five_failures(settings):
    settings.AXES_FAILURE_LIMIT = 5


def sign_in(client, username, password, ip=HOME, **extra):
    return client.post(reverse("accounts:login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def failures_for(user) -> int:
    """Failures on an account's counter (accounts.lockout keys it ``user:<pk>``)."""
    return AccessAttempt.objects.filter(username=f"user:{user.pk}").aggregate(n=Sum("failures_since_start"))["n"] or 0


@pytest.mark.django_db
def test_look_alike_names_share_one_counter(client, oidc_off):
    """Before: the throttle keyed on the raw POSTed name, so "ａｄａ" (full width) had its own counter
    while Django's form folded it to "ada": 7 tries got 5 password checks. After: one counter."""
    ada = UserFactory(username="ada")
    for name in ("ada", "ADA", "ａｄａ", "Ada", "ＡＤＡ"):
        assert sign_in(client, name, "wrong").status_code in (200, 429)
    assert failures_for(ada) == 5
    # Locked now, even with the right password and from another address (the name's own counter).
    response = sign_in(client, "ａdａ", PASSWORD, ip=ELSEWHERE)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_parallel_failures_are_all_counted(oidc_off):
    """Before: read-then-write cache counters lost increments under parallel tries. After: rows updated
    with F() under a row lock count every one. Eight threads fail at once behind a Barrier."""
    grace = UserFactory(username="grace")
    threads_n = 8
    results = run_together(
        [lambda: sign_in(Client(), "grace", "wrong-password") for _ in range(threads_n)], join_timeout=60
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    statuses = [r.status_code for r in results if not isinstance(r, BaseException)]
    assert not errors, errors
    assert len(statuses) == threads_n
    assert failures_for(grace) == threads_n
    # One row per (name, address, browser): the parallel first failures did not make duplicates.
    assert AccessAttempt.objects.filter(username=f"user:{grace.pk}").count() == 1
    assert sign_in(Client(), "grace", PASSWORD).status_code == 429


@pytest.mark.django_db
def test_the_lockout_page_is_a_friendly_429(client, oidc_off, json_log):
    UserFactory(username="ada")
    responses = [sign_in(client, "ada", "wrong") for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    response = sign_in(client, "ada", PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert "Too many sign-in attempts" in page
    assert reverse("accounts:password-reset") in page
    assert any(line.get("event") == "login_throttled" for line in json_log())


@pytest.mark.django_db
def test_failures_are_held_against_the_name_from_any_address(client, oidc_off):
    """Before: per address + name and per address only, so one guess from each of many addresses was
    never stopped. After: the (normalised) name has its own counter."""
    UserFactory(username="ada")
    for n in range(5):
        sign_in(client, "ada", "wrong", ip=f"192.0.2.{n + 1}")
    assert sign_in(client, "ada", PASSWORD, ip=ELSEWHERE).status_code == 429


@pytest.mark.django_db
def test_one_address_spraying_names_is_locked_out(client, oidc_off):
    shopper = UserFactory(username="linus")
    for name in ("a", "b", "c", "d", "e"):
        sign_in(client, name, "wrong", ip=HOME)
    assert sign_in(client, shopper.username, PASSWORD, ip=HOME).status_code == 429
    assert sign_in(client, shopper.username, PASSWORD, ip=ELSEWHERE).status_code == 302


@pytest.mark.django_db
def test_failures_on_a_staff_account_lock_only_that_address(client, oidc_off):
    """The break-glass staff account is locked for the (name, address) pair only: a stranger failing
    from one address cannot lock staff out everywhere, nor does a locked address lock staff out."""
    staff = StaffUserFactory(username="owner")
    for _ in range(5):
        sign_in(client, "owner", "wrong", ip=ELSEWHERE)
    assert sign_in(client, "owner", PASSWORD, ip=ELSEWHERE).status_code == 429
    assert sign_in(Client(), "owner", PASSWORD, ip=OFFICE).status_code == 302

    # The office address sprayed with other names is locked for those names, not for staff.
    for name in ("a", "b", "c", "d", "e"):
        sign_in(Client(), name, "wrong", ip=OFFICE)
    assert sign_in(Client(), "someone", PASSWORD, ip=OFFICE).status_code == 429
    office = Client()
    assert sign_in(office, staff.username, PASSWORD, ip=OFFICE).status_code == 302
    assert int(office.session["_auth_user_id"]) == staff.pk


@pytest.mark.django_db
def test_the_address_is_the_one_the_shop_helper_trusts(client, oidc_off, settings):
    """AXES_CLIENT_IP_CALLABLE is jewelry_site.client_address.client_ip: with one proxy hop, the entry
    nginx appended counts and a forged left-hand X-Forwarded-For entry changes nothing."""
    settings.SHOP_TRUSTED_PROXY_HOPS = 1
    UserFactory(username="ada")
    for n in range(5):
        sign_in(client, f"user{n}", "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {HOME}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HOME}
    forged = sign_in(client, "ada", PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"10.8.8.8, {HOME}")
    assert forged.status_code == 429


@pytest.mark.django_db
def test_a_failed_sign_in_logs_a_digest_never_the_name(client, oidc_off, json_log):
    """Before: ``login_failed`` carried ``username`` as typed (often a password). After: a keyed
    12-character digest; axes' own log lines carry the same digest."""
    typed = "MySecretPassw0rd!"
    sign_in(client, typed, "wrong")
    lines = json_log()
    assert typed not in json.dumps(lines)
    assert typed.casefold() not in json.dumps(lines)
    event = next(line for line in lines if line.get("event") == "login_failed")
    assert event["username_digest"] == username_digest(typed)
    assert "username" not in event
    assert any(username_digest(typed) in line["message"] for line in lines if line["logger"].startswith("axes"))


@pytest.mark.django_db
def test_a_password_post_carrying_code_and_state_is_a_clear_400(client, settings, monkeypatch, oidc_on):
    """Before: with both sign-in paths on, ShopOIDCBackend tried to exchange the posted code: 500.
    After: the form answers 400 with a message, and the backend ignores non-callback calls."""
    settings.LOCAL_LOGIN_ENABLED = True
    settings.AUTHENTICATION_BACKENDS = [
        "accounts.backends.PasswordLockoutBackend",
        "accounts.auth.ShopOIDCBackend",
        "accounts.backends.EmailOrUsernameBackend",
    ]
    client.raise_request_exception = False
    UserFactory(username="ada")
    url = reverse("accounts:login") + "?code=stolen-code&state=guessed"
    response = client.post(url, {"username": "ada", "password": PASSWORD})
    assert response.status_code == 400
    assert b"This sign-in link is not valid here" in response.content
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD, "code": "x"})
    assert response.status_code == 400
    # Without the provider's parameters the break-glass form still works.
    assert client.post(reverse("accounts:login"), {"username": "ada", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_database_error_text_with_an_address_is_redacted(json_log):
    """Before: an IntegrityError's DETAIL ("Failing row contains (...)") put a shopper's name and
    address into the log. After: the values are [REDACTED]; the constraint and columns remain."""
    user = UserFactory()
    logger = logging.getLogger("tests.security")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO accounts_address (user_id, full_name, phone, address_line1, address_line2, city,"
                " postcode, country, label, is_default, created_at) VALUES"
                " (%s, 'Ada Lovelace', '+44 7700 900123', '12 St James''s Square', '', NULL, 'SW1Y 4JH', 'GB',"
                " '', false, now())",
                [user.pk],
            )
    except IntegrityError:
        logger.exception("address insert failed")
    line = json.dumps([entry for entry in json_log() if entry.get("logger") == "tests.security"])
    assert "Failing row contains ([REDACTED])" in line
    assert "city" in line
    for secret in ("Ada Lovelace", "James", "SW1Y", "7700"):
        assert secret not in line
    first, second = ("Ada", "ada")
    try:
        with transaction.atomic():
            # Built here, so the traceback's source lines do not carry the address themselves.
            UserFactory(email=f"{first}@Example.com")
            UserFactory(email=f"{second}@example.com")
    except IntegrityError:
        logger.exception("duplicate e-mail")
    line = json.dumps([entry for entry in json_log() if entry.get("message") == "duplicate e-mail"])
    assert "=([REDACTED])" in line
    assert "ada@example.com" not in line.lower()
    assert Address.objects.count() == 0


def test_accounts_never_imports_jewelry_site():
    """Before: accounts/auth_views.py imported jewelry_site.throttle (an arrow pointing up)."""
    offenders = []
    for path in sorted((REPO / "accounts").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in {"jewelry_site", "cart", "orders"}]
    assert offenders == []


@pytest.mark.django_db
def test_a_provider_staff_session_without_a_check_time_is_re_checked_at_once(client, oidc_on):
    """Sessions from before the bound existed (no check time) fail closed: straight back to sign in."""
    client.force_login(StaffUserFactory(), backend="accounts.auth.ShopOIDCBackend")
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_break_glass_password_staff_session_is_not_cut_by_the_provider_bound(client, oidc_on, settings, monkeypatch):
    """Its staff flag is ours, not the provider's: the hourly re-check is for provider sessions only."""
    apply_sign_in_env(settings, monkeypatch, {**oidc_on.env(), "DJANGO_LOCAL_LOGIN_ENABLED": "true"})
    client.force_login(StaffUserFactory(), backend="accounts.backends.EmailOrUsernameBackend")
    assert client.get(reverse("admin:index")).status_code == 200
