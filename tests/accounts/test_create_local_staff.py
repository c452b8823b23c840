"""create_local_staff: a local superuser with a new random password per run, never with DEBUG off."""

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db

LINE = re.compile(r"^Staff login: http://127\.0\.0\.1:8000/admin/  user: staff  password: (\S+)$")


def run() -> str:
    out = StringIO()
    call_command("create_local_staff", stdout=out)
    match = LINE.match(out.getvalue().strip())
    assert match, out.getvalue()
    return match.group(1)


def test_creates_a_staff_superuser_and_changes_the_password_each_run(settings):
    settings.DEBUG = True

    first = run()
    second = run()

    assert first != second
    assert len(second) >= 16
    user = get_user_model().objects.get(username="staff")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert authenticate(username="staff", password=second) == user
    assert authenticate(username="staff", password=first) is None
    assert get_user_model().objects.filter(username="staff").count() == 1


def test_reactivates_and_promotes_an_existing_staff_account(settings):
    settings.DEBUG = True
    get_user_model().objects.create_user(username="staff", password="old", is_active=False)
    password = run()
    user = authenticate(username="staff", password=password)
    assert user is not None
    assert user.is_superuser


def test_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("create_local_staff", stdout=StringIO())
    assert not get_user_model().objects.filter(username="staff").exists()
