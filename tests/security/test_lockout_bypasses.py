# ruff: noqa: F811 - the fixtures imported below are requested by name
"""Lockout bypasses of issue #21 ("Lockout bypasses"), over the client as a browser would post.

(a) IPv6: axes counted each full address, so one /64 gave 2^64 fresh (name, address) counters on a
    staff name; and staff names had no limit across addresses at all.
(b) The dotless ı: the backend's ``email__iexact`` (Postgres UPPER('ı') = 'I') signs "alıce@…" in as
    alice, but the lockout counted it as a new name.
(c) Five failures from anywhere locked a shopper's name for its owner too; the owner's known device
    (a signed cookie from an earlier sign-in) now keeps its own counter.

The client address reaches axes as in production: SHOP_TRUSTED_PROXY_HOPS entries from the right of
X-Forwarded-For (jewelry_site.client_address), here one hop (nginx).
"""

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from tests.accounts.conftest import oidc_off  # noqa: F401 - fixture
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
NGINX = "127.0.0.1"
KNOWN_DEVICE_COOKIE = "shop_device"  # accounts.lockout.KNOWN_DEVICE_COOKIE, spelled out so the old code runs too


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.SHOP_TRUSTED_PROXY_HOPS = 1
    settings.SHOP_LOGIN_IPV6_PREFIX = 64
    settings.SHOP_STAFF_LOGIN_MAX_FAILURES_EVERYWHERE = 20


def sign_in(client: Client, username: str, password: str, ip: str):
    return client.post(
        reverse("accounts:login"),
        {"username": username, "password": password},
        REMOTE_ADDR=NGINX,
        HTTP_X_FORWARDED_FOR=f"10.9.9.9, {ip}",  # the left entry is the client's own claim: ignored
    )


def signed_in_as(client: Client, user) -> bool:
    return str(client.session.get(SESSION_KEY)) == str(user.pk)


# --- (a) IPv6 and staff names across addresses ---------------------------------------------------


def test_twelve_addresses_of_one_ipv6_slash_64_are_one_counter(client, oidc_off):
    """Before: 12 wrong staff passwords from 12 addresses of 2001:db8:1:2::/64, then the right one:
    signed in. After: the 5th failure locks the /64; another /64 is not locked."""
    staff = StaffUserFactory(username="owner")
    statuses = [sign_in(Client(), "owner", "wrong", f"2001:db8:1:2::{n:x}").status_code for n in range(1, 13)]
    assert statuses[:4] == [200] * 4
    assert set(statuses[4:]) == {429}
    attacker = Client()
    assert sign_in(attacker, "owner", PASSWORD, "2001:db8:1:2:ffff::1").status_code == 429
    assert not signed_in_as(attacker, staff)
    office = Client()
    assert sign_in(office, "owner", PASSWORD, "2001:db8:1:3::1").status_code == 302
    assert signed_in_as(office, staff)


def test_an_ipv4_mapped_ipv6_address_counts_as_the_ipv4_address(client, oidc_off):
    UserFactory(username="ada")
    for _ in range(5):
        sign_in(Client(), "someone", "wrong", "::ffff:203.0.113.7")
    assert sign_in(Client(), "ada", PASSWORD, "203.0.113.7").status_code == 429


def test_a_staff_name_is_locked_everywhere_after_the_global_limit_and_alarms(client, oidc_off, json_log):
    """Before: a staff name was counted per (name, address) only: 4 guesses from each of unlimited
    addresses. After: 20 failures across all addresses lock the name for every address without the
    owner's known-device cookie, and ``staff_login_locked_everywhere`` is logged (an alarm)."""
    staff = StaffUserFactory(username="owner")
    owner_laptop = Client()
    assert sign_in(owner_laptop, "owner", PASSWORD, "198.51.100.20").status_code == 302
    owner_laptop.post(reverse("accounts:logout"))

    statuses = [sign_in(Client(), "owner", "wrong", f"192.0.2.{n + 1}").status_code for n in range(20)]
    assert statuses == [200] * 19 + [429]  # as everywhere in axes: the failure that reaches the limit locks
    fresh = Client()
    assert sign_in(fresh, "owner", PASSWORD, "203.0.113.99").status_code == 429
    assert not signed_in_as(fresh, staff)
    alarms = [line for line in json_log() if line.get("event") == "staff_login_locked_everywhere"]
    assert alarms
    assert alarms[0]["user_id"] == staff.pk
    # The owner's known device still signs in.
    assert sign_in(owner_laptop, "owner", PASSWORD, "198.51.100.20").status_code == 302
    assert signed_in_as(owner_laptop, staff)


# --- (b) the dotless ı ---------------------------------------------------------------------------


def test_the_backend_does_sign_in_a_dotless_i_spelling(client, oidc_off):
    """The premise, on Postgres: "alıce@…" finds alice@… (UPPER('ı') = 'I')."""
    alice = UserFactory(username="alice", email="alice@example.com")
    assert sign_in(client, "alıce@example.com", PASSWORD, "203.0.113.7").status_code == 302
    assert signed_in_as(client, alice)


def test_a_dotless_i_spelling_shares_the_locked_accounts_counter(client, oidc_off):
    """Before: 5 failures locked "alice@example.com"; "alıce@example.com" was a fresh counter and signed
    in as alice. After: both are the account's counter, locked."""
    alice = UserFactory(username="alice", email="alice@example.com")
    for n in range(5):
        sign_in(Client(), "alice@example.com", "wrong", f"192.0.2.{n + 1}")
    attacker = Client()
    assert sign_in(attacker, "alıce@example.com", PASSWORD, "198.51.100.7").status_code == 429
    assert not signed_in_as(attacker, alice)
    assert sign_in(Client(), "ALICE@EXAMPLE.COM", PASSWORD, "198.51.100.8").status_code == 429


# --- (c) the owner's known device ----------------------------------------------------------------


def test_the_owner_on_a_known_device_signs_in_while_strangers_are_locked_out(client, oidc_off):
    """Before: five failures from anywhere locked the name for its owner too (and again each
    cool-off). After: the owner's browser, signed in there before, has its own counter."""
    ada = UserFactory(username="ada", email="ada@example.com")
    owner = Client()
    first = sign_in(owner, "ada@example.com", PASSWORD, "203.0.113.7")
    assert first.status_code == 302
    cookie = first.cookies[KNOWN_DEVICE_COOKIE]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    owner.post(reverse("accounts:logout"))

    for n in range(5):
        sign_in(Client(), "ada@example.com", "wrong", f"192.0.2.{n + 1}")
    stranger = Client()
    assert sign_in(stranger, "ada@example.com", PASSWORD, "192.0.2.1").status_code == 429
    assert not signed_in_as(stranger, ada)
    # Even from the attacker's own (locked) address, the owner's device gets in.
    assert sign_in(owner, "ada@example.com", PASSWORD, "192.0.2.1").status_code == 302
    assert signed_in_as(owner, ada)


def test_a_known_device_has_a_limit_of_its_own(client, oidc_off):
    UserFactory(username="ada", email="ada@example.com")
    device = Client()
    sign_in(device, "ada", PASSWORD, "203.0.113.7")
    device.post(reverse("accounts:logout"))
    for _ in range(5):
        sign_in(device, "ada", "wrong", "203.0.113.7")
    assert sign_in(device, "ada", PASSWORD, "203.0.113.7").status_code == 429
    # Its failures were not the name's: another browser of the owner is not locked by them.
    assert sign_in(Client(), "ada", PASSWORD, "198.51.100.1").status_code == 302


def test_another_accounts_or_a_forged_device_cookie_does_not_open_the_lock(client, oidc_off):
    ada = UserFactory(username="ada", email="ada@example.com")
    UserFactory(username="mallory", email="mallory@example.com")
    attacker = Client()
    assert sign_in(attacker, "mallory", PASSWORD, "192.0.2.50").status_code == 302  # a cookie of its own
    attacker.post(reverse("accounts:logout"))
    for n in range(5):
        sign_in(Client(), "ada", "wrong", f"192.0.2.{n + 1}")
    assert sign_in(attacker, "ada", PASSWORD, "192.0.2.50").status_code == 429
    forged = Client()
    forged.cookies[KNOWN_DEVICE_COOKIE] = f"{ada.pk}:madeup"
    assert sign_in(forged, "ada", PASSWORD, "192.0.2.51").status_code == 429
    assert not signed_in_as(attacker, ada)
    assert not signed_in_as(forged, ada)


def test_the_device_cookie_is_secure_when_sessions_are(client, oidc_off, settings):
    settings.SESSION_COOKIE_SECURE = True
    UserFactory(username="ada")
    response = sign_in(client, "ada", PASSWORD, "203.0.113.7")
    assert response.cookies[KNOWN_DEVICE_COOKIE]["secure"]


@pytest.mark.parametrize(("name", "password"), [("ada", "wrong"), ("ada", PASSWORD), ("owner", "wrong"), ("x", "y")])
def test_a_sign_in_attempt_stays_within_its_query_budget(oidc_off, django_assert_max_num_queries, name, password):
    """The account lookup runs once per request (cached on it); a staff name adds one count."""
    UserFactory(username="ada")
    StaffUserFactory(username="owner")
    with django_assert_max_num_queries(15):
        sign_in(Client(), name, password, "203.0.113.7")
