"""Login throttle on the local password form (accounts:login uses jewelry_site.throttle.ThrottledLoginView)."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from jewelry_site.client_address import client_ip
from jewelry_site.throttle import login_failure_record, login_throttle_retry_after
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _local_login(settings):
    settings.OIDC_ENABLED = False
    settings.SHOP_LOGIN_MAX_FAILURES = 5
    settings.SHOP_LOGIN_MAX_FAILURES_PER_IP = 50
    cache.clear()
    yield
    cache.clear()


def post_login(client, username, password, ip="203.0.113.7"):
    return client.post(reverse("accounts:login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_sixth_attempt_is_refused_even_with_the_right_password(client, json_log):
    UserFactory(username="ada")
    for _ in range(5):
        assert post_login(client, "ada", "wrong").status_code == 200
    response = post_login(client, "ada", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert [line["event"] for line in json_log() if line.get("event") == "login_throttled"] == ["login_throttled"]


@pytest.mark.django_db
def test_throttle_is_per_ip_and_username(client):
    UserFactory(username="ada")
    UserFactory(username="grace")
    for _ in range(5):
        post_login(client, "ada", "wrong")
    # Another address, or another username, is not blocked by ada's failures from this address.
    assert post_login(client, "ada", PASSWORD, ip="198.51.100.9").status_code == 302
    client.logout()
    assert post_login(client, "grace", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_success_resets_the_counter(client):
    UserFactory(username="ada")
    for _ in range(4):
        post_login(client, "ada", "wrong")
    assert post_login(client, "ada", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        post_login(client, "ada", "wrong")
    assert post_login(client, "ada", PASSWORD).status_code == 302


def test_window_expires(rf, settings):
    settings.SHOP_LOGIN_WINDOW_SECONDS = 0
    request = rf.post("/account/login/", REMOTE_ADDR="203.0.113.7")
    for _ in range(6):
        login_failure_record(request=request, username="ada")
    # A zero-second window has always expired: nothing is held against the next attempt.
    assert login_throttle_retry_after(request=request, username="ada") is None


def test_per_ip_limit_catches_username_spraying(rf, settings):
    settings.SHOP_LOGIN_MAX_FAILURES_PER_IP = 3
    request = rf.post("/account/login/", REMOTE_ADDR="203.0.113.7")
    for name in ("a", "b", "c"):
        login_failure_record(request=request, username=name)
    assert login_throttle_retry_after(request=request, username="d") > 0


def test_client_ip_trusts_only_our_proxies(rf, settings):
    request = rf.get("/", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.5")
    settings.SHOP_TRUSTED_PROXY_HOPS = 0
    assert client_ip(request) == "unknown"
    settings.SHOP_TRUSTED_PROXY_HOPS = 1  # nginx appended the load balancer's address
    assert client_ip(request) == "10.0.0.5"
    settings.SHOP_TRUSTED_PROXY_HOPS = 2  # load balancer + nginx: the client is one further left
    assert client_ip(request) == "203.0.113.7"
