# ruff: noqa: F811 - the fixtures imported below are requested by name
"""Shopper names follow the shop's text rules (issue #21: "Names of shoppers skip the text rules too").

Before: sign-up's first and last name were plain CharFields, so a right-to-left override, CR/LF or NUL
was stored and then shown to staff on orders and put into e-mail greetings. After: the checkout's
rule (accounts.text_rules.PlainTextField) on sign-up and on the admin's user form; a provider's
name claims are cleaned to the same rule. Saved addresses and the checkout had the rule already:
tests/security/test_personal_data.py and tests/orders/test_views.py.
"""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from accounts.services import user_sync_from_oidc
from tests.accounts.conftest import oidc_off  # noqa: F401 - fixture
from tests.factories import StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a brand-new passphrase 42"
BAD_NAMES = ["Ada\u202eecalevoL", "Ada\r\nBcc: all@example.com", "Ada\x00", "A\u200bda", "Ada\u2066x\u2069"]


@pytest.mark.parametrize("field", ["first_name", "last_name"])
@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_sign_up_refuses_a_name_with_invisible_or_control_characters(client, oidc_off, field, bad):
    data = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "password1": PASSWORD,
        "password2": PASSWORD,
        field: bad,
    }
    response = client.post(reverse("accounts:sign-up"), data)
    assert response.status_code == 200
    assert "registration/sign_up.html" in [t.name for t in response.templates]
    assert response.context["form"].errors[field] == [
        "Please use letters, numbers and ordinary punctuation only (no emoji or invisible characters)."
    ]
    assert b'value="ada@example.com"' in response.content  # what was typed is kept
    assert not User.objects.exists()


def test_sign_up_keeps_names_in_any_script(client, oidc_off):
    data = {
        "email": "zoe@example.com",
        "first_name": "Zoë",
        "last_name": "Ní Bhriain-أحمد",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    response = client.post(reverse("accounts:sign-up"), data)
    assert response.status_code == 200
    assert "registration/sign_up_sent.html" in [t.name for t in response.templates]
    assert User.objects.get(email="zoe@example.com").last_name == "Ní Bhriain-أحمد"


@pytest.mark.parametrize("bad", BAD_NAMES[:3], ids=repr)
def test_staff_cannot_type_such_a_name_for_a_shopper_in_the_admin(client, bad):
    shopper = UserFactory(first_name="Ada")
    client.force_login(StaffUserFactory())
    url = reverse("admin:accounts_user_change", args=[shopper.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update(first_name=bad, date_joined_0="2026-01-01", date_joined_1="10:00:00", groups=[], user_permissions=[])
    response = client.post(url, data)
    assert response.status_code == 200
    assert "first_name" in response.context["adminform"].form.errors
    shopper.refresh_from_db()
    assert shopper.first_name == "Ada"


def test_a_providers_name_claims_are_cleaned_to_the_same_rule():
    user = user_sync_from_oidc(
        claims={"sub": "abc-123", "given_name": "Ada\u202eecalevoL", "family_name": "Love\r\nlace"},
        staff_group="staff",
        groups_claim="cognito:groups",
    )
    assert (user.first_name, user.last_name) == ("Ada ecalevoL", "Love lace")
