"""Production reaches a network database over TLS only (jewelry_site/db_tls.py): ``require`` at least,
``verify-full`` once the CA bundle is there; a mode that can fall back to plain text stops start-up.

The settings are loaded for real by ``manage.py`` under ``jewelry_site.settings.prod`` in a subprocess
(what an instance runs); the database host in those URLs is never contacted (``.invalid``), so what is
checked is the options handed to psycopg, not a TLS handshake with Lightsail (no AWS here).
"""

import json

import pytest

from jewelry_site.db_tls import DatabaseTlsError, ssl_options
from tests.deploy.conftest import PROD_HOST, prod_env, run_manage, strong_secret_key

NETWORK_URL = "postgres://shop@ls-example.db.invalid:5432/shop"
PRINT_OPTIONS = (
    "from django.conf import settings; import json; "
    "print(json.dumps(settings.DATABASES['default']['OPTIONS'], sort_keys=True))"
)


def prod_options(database_url: str, **extra: str):
    env = prod_env(
        database_url=database_url,
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_ORIGIN_VERIFY_SECRET="origin-verify-value-from-the-stack",
        **extra,
    )
    return run_manage("shell", "-c", PRINT_OPTIONS, env=env)


def test_a_network_database_gets_require_without_a_bundle():
    result = prod_options(NETWORK_URL)
    assert result.returncode == 0, result.stderr
    options = json.loads(result.stdout.splitlines()[-1])
    assert options["sslmode"] == "require"
    assert "sslrootcert" not in options


def test_a_network_database_is_verified_with_the_bundle(tmp_path):
    bundle = tmp_path / "rds-ca-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    result = prod_options(NETWORK_URL, DJANGO_DB_SSLROOTCERT=str(bundle))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) | {"connect_timeout": None} == {
        "connect_timeout": None,
        "sslmode": "verify-full",
        "sslrootcert": str(bundle),
    }


@pytest.mark.parametrize("mode", ["prefer", "allow", "disable"])
def test_a_mode_that_falls_back_to_plain_text_stops_start_up(mode):
    result = prod_options(NETWORK_URL, DJANGO_DB_SSLMODE=mode)
    assert result.returncode != 0
    assert f"start-up stopped: DJANGO_DB_SSLMODE={mode} would let the connection" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_url_may_name_a_strict_mode_itself():
    result = prod_options(f"{NETWORK_URL}?sslmode=verify-ca")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["sslmode"] == "verify-ca"


@pytest.mark.parametrize(
    ("host", "given", "bundle", "expected"),
    [
        ("ls-abc.eu-west-2.rds.amazonaws.com", "", "", "require"),
        ("ls-abc.eu-west-2.rds.amazonaws.com", "", "/etc/jewelry/rds-ca-bundle.pem", "verify-full"),
        ("ls-abc.eu-west-2.rds.amazonaws.com", "require", "/etc/jewelry/rds-ca-bundle.pem", "require"),
        ("127.0.0.1", "", "", "prefer"),  # the rehearsals' and bench's local cluster: no wire to protect
        ("/run/postgresql", "", "", "prefer"),
        ("127.0.0.1.nip.io", "", "", "require"),  # a name, however it looks, goes over the network
        ("localhost", "disable", "", "disable"),
    ],
)
def test_ssl_options(host, given, bundle, expected):
    assert ssl_options(host=host, sslmode=given, sslrootcert=bundle)["sslmode"] == expected


def test_an_unknown_mode_is_refused():
    with pytest.raises(DatabaseTlsError, match="not a libpq sslmode"):
        ssl_options(host="127.0.0.1", sslmode="required")
