"""accounts.services.user_sync_from_oidc: how verified provider claims become (and update) a user."""

import logging

import pytest
from django.contrib.auth import get_user_model

from accounts.services import oidc_username, user_sync_from_oidc
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


def sync(**claims):
    return user_sync_from_oidc(claims={"sub": "sub-1", **claims}, staff_group="staff", groups_claim="cognito:groups")


def test_a_new_user_gets_a_sub_based_username_and_no_password():
    user = sync(email="a@example.com", email_verified=True, name="Ada King Lovelace")
    assert user.username == oidc_username(sub="sub-1")
    assert "@" not in user.username
    assert not user.has_usable_password()
    assert (user.first_name, user.last_name) == ("Ada", "King Lovelace")


def test_cognito_userinfo_says_true_as_a_string():
    assert sync(email="a@example.com", email_verified="true").email == "a@example.com"
    assert sync(email="b@example.com", email_verified="false").email == "a@example.com"


def test_an_unverified_address_never_replaces_nor_fills_the_email():
    assert sync(email="a@example.com").email == ""
    sync(email="a@example.com", email_verified=True)
    assert sync(email="attacker@example.com", email_verified=False).email == "a@example.com"


def test_matching_is_by_sub_not_by_email():
    local = UserFactory(email="a@example.com")
    user = sync(email="a@example.com", email_verified=True)
    assert user.pk != local.pk
    assert User.objects.filter(email="a@example.com").count() == 2


def test_staff_follows_the_group_both_ways(caplog):
    with caplog.at_level(logging.INFO, logger="shop.security"):
        assert sync(**{"cognito:groups": ["buyers", "staff"]}).is_staff
        assert not sync(**{"cognito:groups": ["buyers"]}).is_staff
        assert not sync().is_staff  # no groups claim at all
    events = [r.event for r in caplog.records if r.name == "shop.security"]
    assert events == ["oidc_user_created", "oidc_staff_granted", "oidc_staff_revoked"]


def test_a_lookalike_group_is_not_the_staff_group():
    assert not sync(**{"cognito:groups": ["staff-alumni", "Staff", "not staff"]}).is_staff
    assert not sync(**{"cognito:groups": "staffers"}).is_staff
