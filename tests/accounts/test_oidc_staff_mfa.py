"""Staff must sign in with a second factor (issue #22). Cognito's MFA is per pool and set to OPTIONAL so
shoppers are not forced into an authenticator app; the shop refuses a staff sign-in whose verified ID
token does not list "mfa" in ``amr`` (RFC 8176). Over the real test provider (npm oidc-provider on
loopback), whose login form reports each user's sign-in methods in ``amr`` as Cognito does.

Not covered: Cognito itself (that it writes ``amr`` for this pool, and how a person enrols TOTP):
deploy/README.md step 9.
"""

import pytest
import requests
from django.contrib.auth import SESSION_KEY, get_user_model

from accounts.services import staff_without_second_factor
from tests.accounts.test_oidc_flow import sign_in

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def grace_without_mfa(oidc_on):
    """Grace (group "staff") signs in with her password only."""
    grace = oidc_on.user("grace@example.com")
    oidc_on.set_claims(grace["sub"], amr=["pwd"])
    yield grace
    oidc_on.set_claims(grace["sub"], amr=grace["amr"])


def test_staff_with_a_second_factor_reach_the_admin(client, oidc_on):
    grace = oidc_on.user("grace@example.com")
    assert "mfa" in grace["amr"]
    sign_in(client, oidc_on, "grace@example.com")
    assert User.objects.get(oidc_sub=grace["sub"]).is_staff
    assert client.get("/admin/").status_code == 200


def test_staff_with_a_password_only_are_refused(client, oidc_on, grace_without_mfa, caplog):
    response = sign_in(client, oidc_on, "grace@example.com", browser=requests.Session())
    assert response.status_code == 400
    assert b"authenticator app code" in response.content
    assert SESSION_KEY not in client.session
    # Refused before the account is touched: no staff user, no group.
    assert not User.objects.filter(oidc_sub=grace_without_mfa["sub"]).exists()
    events = [r for r in caplog.records if getattr(r, "event", "") == "oidc_login_failed"]
    assert [e.reason for e in events] == ["staff_without_mfa"]
    assert client.get("/admin/").status_code == 302  # to the login page


def test_a_staff_member_who_lost_the_second_factor_is_refused_not_demoted(client, oidc_on, grace_without_mfa):
    User.objects.create(username="grace", oidc_sub=grace_without_mfa["sub"], is_staff=True)
    response = sign_in(client, oidc_on, "grace@example.com", browser=requests.Session())
    assert response.status_code == 400
    assert SESSION_KEY not in client.session
    assert User.objects.get(oidc_sub=grace_without_mfa["sub"]).is_staff  # untouched; simply not signed in


def test_shoppers_need_no_second_factor(client, oidc_on):
    ada = oidc_on.user("ada@example.com")
    assert "amr" not in ada
    sign_in(client, oidc_on, "ada@example.com")
    assert client.session[SESSION_KEY] == str(User.objects.get(oidc_sub=ada["sub"]).pk)


def test_the_check_can_be_turned_off_for_a_provider_without_amr(client, oidc_on, grace_without_mfa, settings):
    settings.OIDC_STAFF_REQUIRE_MFA = False
    sign_in(client, oidc_on, "grace@example.com", browser=requests.Session())
    assert User.objects.get(oidc_sub=grace_without_mfa["sub"]).is_staff


@pytest.mark.parametrize(
    ("claims", "refused"),
    [
        ({"cognito:groups": ["staff"], "amr": ["pwd", "otp", "mfa"]}, False),
        ({"cognito:groups": ["order-handlers"], "amr": ["pwd"]}, True),  # every staff role, not only "staff"
        ({"cognito:groups": ["catalogue-editors"]}, True),
        ({"cognito:groups": ["staff"], "amr": "mfa"}, True),  # malformed: a list or nothing
        ({"cognito:groups": ["staff"], "amr": ["pwd", "mfa-not"]}, True),
        ({"cognito:groups": ["wholesale"], "amr": ["pwd"]}, False),  # not a staff group
        ({}, False),
    ],
)
def test_which_sign_ins_need_a_second_factor(claims, refused):
    found = staff_without_second_factor(claims=claims, staff_group="staff", groups_claim="cognito:groups")
    assert found is refused
