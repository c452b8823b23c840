"""Daily housekeeping: deploy/jewelry-maintenance.{service,timer} run prune_carts, clearsessions, mail_prune the way
jewelry.service runs the shop, release.sh installs them, and the commands they run do their job."""

import re
import shlex
import shutil
import subprocess
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from cart.models import Cart, CartLine
from mailqueue.models import Mail, MailStatus
from tests.deploy.conftest import PYTHON, REPO, prod_secrets_env
from tests.factories import ProductVariantFactory, UserFactory

DEPLOY = REPO / "deploy"
SERVICE = DEPLOY / "jewelry-maintenance.service"
TIMER = DEPLOY / "jewelry-maintenance.timer"
APP_PYTHON = "/srv/jewelry/current/.venv/bin/python"
HARDENING = (
    "NoNewPrivileges",
    "PrivateTmp",
    "ProtectSystem",
    "ProtectHome",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectControlGroups",
    "RestrictSUIDSGID",
    "RestrictAddressFamilies",
    "LockPersonality",
    "CapabilityBoundingSet",
    "UMask",
)


def unit(path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values in order]}}; keys such as ExecStart may repeat."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_service_runs_both_commands_as_the_shop_runs():
    shop = unit(DEPLOY / "jewelry.service")["Service"]
    job = unit(SERVICE)["Service"]
    assert job["Type"] == ["oneshot"]
    for key in ("User", "Group", "WorkingDirectory", "EnvironmentFile"):
        assert job[key] == shop[key], key
    assert job["EnvironmentFile"] == ["/etc/jewelry/jewelry.env", "/etc/jewelry/aws.env"]
    # The venv of the live release, the one gunicorn comes from.
    assert APP_PYTHON.rsplit("/", 1)[0] == shop["ExecStart"][0].split()[0].rsplit("/", 1)[0]
    # No "-" prefix: a failing command must fail the unit (systemctl --failed), not be ignored.
    assert job["ExecStart"] == [
        f"{APP_PYTHON} manage.py prune_carts --days 30",
        f"{APP_PYTHON} manage.py clearsessions",
        f"{APP_PYTHON} manage.py mail_prune",
    ]
    for key in HARDENING:
        assert job.get(key) == shop[key], key
    assert "Restart" not in job  # a retry loop against a broken database helps nobody; the timer comes back


def test_settings_module_comes_from_the_same_env_file():
    # Neither unit names a settings module: both take DJANGO_SETTINGS_MODULE from /etc/jewelry/jewelry.env.
    for path in (DEPLOY / "jewelry.service", SERVICE):
        assert "DJANGO_SETTINGS_MODULE" not in path.read_text()
    assert "DJANGO_SETTINGS_MODULE=jewelry_site.settings.prod" in (DEPLOY / "jewelry.env.example").read_text()


def test_timer_starts_the_service_daily_at_a_quiet_hour_and_catches_up():
    timer = unit(TIMER)
    assert timer["Timer"]["Unit"] == [SERVICE.name]
    (calendar,) = timer["Timer"]["OnCalendar"]
    every_day = re.fullmatch(r"\*-\*-\* (\d\d):(\d\d):00", calendar)
    assert every_day, calendar
    assert 1 <= int(every_day[1]) <= 5  # night in the UK, away from midnight jobs and morning shoppers
    assert timer["Timer"]["Persistent"] == ["true"]
    assert timer["Timer"]["RandomizedDelaySec"]
    assert timer["Install"]["WantedBy"] == ["timers.target"]
    assert "Install" not in unit(SERVICE)  # only the timer is enabled; the service is started by it


def test_release_installs_every_unit_it_ships_and_enables_the_timers():
    # Generic: every deploy/*.service|*.socket|*.timer of the release made live (the rehearsal,
    # test_release_rehearsal.py, runs it and checks the installed set against deploy/).
    script = (DEPLOY / "release.sh").read_text()
    body = script[script.index("install_units() {") :]
    body = body[: body.index("\n}\n")]
    assert "-name '*.service' -o -name '*.socket' -o -name '*.timer'" in script
    assert body.index("sysctl daemon-reload") < body.index('*.timer | *.socket) sysctl enable --now "$name"')
    # From the release being switched to, before its restart (a rollback brings its own units back).
    switch = script[script.index("switch_to() {") :]
    assert switch.index('install_units "$1"') < switch.index("sysctl restart jewelry.service")


def units_verify(tmp_path, *, service, timer) -> str:
    """systemd-analyze verify on a service and its timer, then the timer's calendar normalised (its output).

    The release's venv does not exist here and verify insists the command is executable: the service is
    pointed at ours; everything else is checked as shipped (the rehearsal verifies the units as installed).
    """
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: run scripts/install.sh test"
    (tmp_path / service.name).write_text(service.read_text().replace(APP_PYTHON, PYTHON))
    shutil.copy(timer, tmp_path / timer.name)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / service.name), str(tmp_path / timer.name)],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == "", verify.stderr  # unknown keys are only warned about
    (calendar,) = unit(timer)["Timer"]["OnCalendar"]
    parsed = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr
    return parsed.stdout


def test_units_pass_systemd_analyze(tmp_path):
    normalized = units_verify(tmp_path, service=SERVICE, timer=TIMER)
    assert re.search(r"Normalized form: \*-\*-\* \d\d:\d\d:00\n", normalized), normalized


@pytest.mark.django_db(transaction=True)  # the subprocesses must see committed rows
def test_the_units_commands_prune_old_carts_and_expired_sessions(moto_server):
    from django.db import connection

    long_ago = timezone.now() - timedelta(days=31)
    old_cart, fresh_cart, users_cart = Cart.objects.create(), Cart.objects.create(), Cart.objects.create()
    users_cart.user = UserFactory()
    users_cart.save()
    CartLine.objects.create(cart=old_cart, variant=ProductVariantFactory(), quantity=1)
    Cart.objects.filter(pk__in=[old_cart.pk, users_cart.pk]).update(updated_at=long_ago)
    expired, live = SessionStore(), SessionStore()
    expired.create()
    live.create()
    Session.objects.filter(session_key=expired.session_key).update(expire_date=timezone.now() - timedelta(hours=1))
    mails = {}
    for status, days in ((MailStatus.SENT, 91), (MailStatus.SENT, 89), (MailStatus.FAILED, 91)):
        when = timezone.now() - timedelta(days=days)
        mails[(status, days)] = stored = Mail.objects.create(
            to="shopper@example.com",
            subject="s",
            text_body="t",
            kind="k",
            status=status,
            next_attempt_at=when,
            sent_at=when if status == MailStatus.SENT else None,
        )
        Mail.objects.filter(pk=stored.pk).update(created_at=when)

    # As on the instance: production settings, secrets fetched from Secrets Manager by their ids.
    env, _secret_key = prod_secrets_env(moto=moto_server, database=connection.settings_dict["NAME"], db_password="any")
    outputs = []
    for command in unit(SERVICE)["Service"]["ExecStart"]:
        argv = shlex.split(command)
        assert argv[0] == APP_PYTHON
        result = subprocess.run([PYTHON, *argv[1:]], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)

    assert "Removed 2 objects from stale anonymous carts." in outputs[0]  # the cart and its line
    assert set(Cart.objects.values_list("pk", flat=True)) == {fresh_cart.pk, users_cart.pk}
    assert not CartLine.objects.exists()
    assert set(Session.objects.values_list("session_key", flat=True)) == {live.session_key}
    # Sent e-mails past the 90-day default go; a recent one and a failed one (for staff) stay.
    assert "1 sent e-mail(s)" in outputs[2]
    kept = {mails[(MailStatus.SENT, 89)].pk, mails[(MailStatus.FAILED, 91)].pk}
    assert set(Mail.objects.values_list("pk", flat=True)) == kept
