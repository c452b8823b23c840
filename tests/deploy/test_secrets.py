"""The Secrets Manager loader against a real moto server over HTTP: success and every failure."""

import json
import time

import boto3
import pytest

from jewelry_site import secrets_manager as loader
from loopback import free_port, moto_running
from tests.deploy.conftest import (
    create_secret,
    database_url,
    prod_env,
    run_manage,
    secrets_client,
    strong_secret_key,
)

DB_VALUE = "db-pw-Zq9!unique-marker"
CLIENT_SECRET = "cognito-secret-unique-marker"


@pytest.fixture(autouse=True)
def _fresh_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def environ(moto: str, **ids: str) -> dict[str, str]:
    env = {"AWS_ENDPOINT_URL": moto, "AWS_DEFAULT_REGION": "eu-west-2"}
    if "db" in ids:
        env[loader.DB_PASSWORD_SECRET_ENV] = ids["db"]
    if "app" in ids:
        env[loader.APP_CONFIG_SECRET_ENV] = ids["app"]
    return env


def test_loads_both_secrets_once(aws_env, capsys):
    db_id = create_secret(aws_env, json.dumps({"username": "shop_app_a", "password": DB_VALUE}))
    app_id = create_secret(
        aws_env,
        json.dumps({"MEDIA_BUCKET": "aurelia-media", "COGNITO_CLIENT_SECRET": CLIENT_SECRET, "SESSION_DAYS": 7}),
    )
    env = environ(aws_env, db=db_id, app=app_id)

    loaded = loader.load_secrets(environ=env)
    again = loader.load_secrets(environ=env)

    assert again is loaded
    assert (loaded.db_password, loaded.db_username) == (DB_VALUE, "shop_app_a")
    assert loaded.app_config == {
        "MEDIA_BUCKET": "aurelia-media",
        "COGNITO_CLIENT_SECRET": CLIENT_SECRET,
        "SESSION_DAYS": "7",
    }
    # One announcement for one fetch, naming ids and never values (not even in repr).
    out = capsys.readouterr().out
    announcements = [json.loads(line) for line in out.splitlines() if "secrets_loaded" in line]
    assert len(announcements) == 1
    assert announcements[0]["ids"] == [db_id, app_id]
    assert DB_VALUE not in out
    assert CLIENT_SECRET not in out
    assert DB_VALUE not in repr(loaded)
    assert CLIENT_SECRET not in repr(loaded)


def test_bare_password_secret(aws_env):
    db_id = create_secret(aws_env, DB_VALUE)
    loaded = loader.load_secrets(environ=environ(aws_env, db=db_id))
    assert (loaded.db_password, loaded.db_username, loaded.app_config) == (DB_VALUE, None, {})


def test_nothing_configured_fetches_nothing():
    # No endpoint at all: a call would fail, so an empty result proves no call was made.
    assert loader.load_secrets(environ={}) == loader.LoadedSecrets()


def test_secrets_beat_the_environment_file_and_name_what_they_replaced(capsys):
    # The environment file is per instance and written once at first boot; a secret is the same on every
    # instance and is where a person changes a value later (a new sender, a rotated key).
    target = {"DJANGO_DEFAULT_FROM_EMAIL": "Boot <old@example.com>", "DJANGO_SECRET_KEY": "same"}
    applied = loader.apply_app_config(
        {"DEFAULT_FROM_EMAIL": "Now <new@example.com>", "SECRET_KEY": "same", "MEDIA_BUCKET": "aurelia-media"},
        environ=target,
    )
    assert target == {
        "DJANGO_DEFAULT_FROM_EMAIL": "Now <new@example.com>",
        "DJANGO_SECRET_KEY": "same",
        "DJANGO_AWS_STORAGE_BUCKET_NAME": "aurelia-media",
    }
    assert sorted(applied) == ["DJANGO_AWS_STORAGE_BUCKET_NAME", "DJANGO_DEFAULT_FROM_EMAIL", "DJANGO_SECRET_KEY"]
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "secrets_override_environment" in x]
    assert line["names"] == ["DJANGO_DEFAULT_FROM_EMAIL"]  # names only; an unchanged value is not news
    assert "new@example.com" not in json.dumps(line)


def test_operator_secret_beats_stack_secrets_which_beat_the_generated_one(aws_env):
    """Three secrets as the stack makes them, merged over HTTP: people's keys survive and win."""
    generated = create_secret(aws_env, json.dumps({"SECRET_KEY": "generated-once"}))
    derived = create_secret(aws_env, json.dumps({"COGNITO_CLIENT_SECRET": CLIENT_SECRET, "ORIGIN_VERIFY_SECRET": "o1"}))
    operator = create_secret(
        aws_env,
        json.dumps({"ORIGIN_VERIFY_SECRET": "o2", "SHOP_BANK_TRANSFER_DETAILS": "Aurelia Ltd 20-00-00 12345678"}),
    )
    env = environ(aws_env)
    env.update(
        {
            loader.APP_CONFIG_SECRET_ENV: generated,
            loader.STACK_SECRETS_SECRET_ENV: derived,
            loader.OPERATOR_CONFIG_SECRET_ENV: operator,
        }
    )
    loaded = loader.load_secrets(environ=env)
    assert loaded.app_config == {
        "SECRET_KEY": "generated-once",
        "COGNITO_CLIENT_SECRET": CLIENT_SECRET,
        "ORIGIN_VERIFY_SECRET": "o2",  # mid-rotation: the person's new value, not the stack's stale one
        "SHOP_BANK_TRANSFER_DETAILS": "Aurelia Ltd 20-00-00 12345678",
    }
    assert loaded.app_config_source == {
        "SECRET_KEY": generated,
        "COGNITO_CLIENT_SECRET": derived,
        "ORIGIN_VERIFY_SECRET": operator,
        "SHOP_BANK_TRANSFER_DETAILS": operator,
    }
    assert loaded.secret_ids == (generated, derived, operator)
    assert CLIENT_SECRET not in repr(loaded)


def test_the_operator_secret_the_stack_creates_empty_is_valid(aws_env):
    operator = create_secret(aws_env, "{}")
    env = {**environ(aws_env), loader.OPERATOR_CONFIG_SECRET_ENV: operator}
    assert loader.load_secrets(environ=env).app_config == {}


def test_a_secret_cannot_redirect_the_instance_to_other_secrets(aws_env):
    operator = create_secret(aws_env, json.dumps({"DB_PASSWORD_SECRET_ID": "someone/else"}))
    env = {**environ(aws_env), loader.OPERATOR_CONFIG_SECRET_ENV: operator}
    with pytest.raises(loader.SecretsError, match="belongs in the instance's environment file"):
        loader.load_secrets(environ=env)


def test_missing_secret_names_it(aws_env):
    with pytest.raises(loader.SecretsError) as caught:
        loader.load_secrets(environ=environ(aws_env, db="jewelry/does-not-exist"))
    assert str(caught.value) == "secret 'jewelry/does-not-exist': not found (check the id or ARN and the region)"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"MEDIA_BUCKET": "x",', "is not valid JSON (line 1, column 22)"),
        ('["MEDIA_BUCKET"]', "must be a JSON object of KEY: value"),
        ('{"media_bucket": "x"}', "key 'media_bucket' must be UPPER_CASE letters, digits, _"),
        ('{"MEDIA_BUCKET": {"name": "x"}}', "value of MEDIA_BUCKET must be a string, number, boolean or list"),
        ("   ", "is empty"),
    ],
)
def test_malformed_app_config(aws_env, value, problem):
    app_id = create_secret(aws_env, value)
    with pytest.raises(loader.SecretsError) as caught:
        loader.load_secrets(environ=environ(aws_env, app=app_id))
    assert str(caught.value) == f"secret {app_id!r}: {problem}"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"password": "x"', "is not valid JSON"),
        ('{"username": "shop"}', 'JSON has no non-empty "password" string'),
        ('{"password": "x", "username": 7}', '"username" must be a non-empty string'),
    ],
)
def test_malformed_db_secret(aws_env, value, problem):
    db_id = create_secret(aws_env, value)
    with pytest.raises(loader.SecretsError, match=problem) as caught:
        loader.load_secrets(environ=environ(aws_env, db=db_id))
    assert db_id in str(caught.value)


def test_binary_secret_is_refused(aws_env):
    db_id = create_secret(aws_env, b"\x00binary")
    with pytest.raises(loader.SecretsError, match="is binary; store it as a string"):
        loader.load_secrets(environ=environ(aws_env, db=db_id))


def test_unreachable_endpoint_fails_fast(aws_env):
    closed = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(loader.SecretsError) as caught:
        loader.load_secrets(environ=environ(closed, db="jewelry/db"))
    assert "could not call Secrets Manager (EndpointConnectionError)" in str(caught.value)
    # Bounded retries and timeouts: start-up gives up rather than hangs. A refused connection fails at
    # once, so this loose bound only has to catch a hang; it leaves room for a loaded machine.
    assert time.monotonic() - started < 60


def test_no_region_is_reported(aws_env):
    with pytest.raises(loader.SecretsError, match="no AWS region"):
        loader.load_secrets(environ={"AWS_ENDPOINT_URL": aws_env, loader.DB_PASSWORD_SECRET_ENV: "jewelry/db"})


def test_region_comes_from_an_arn():
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:jewelry/db-AbCdEf"
    assert loader._region_for(arn, {"AWS_REGION": "us-east-1"}) == "eu-west-1"


@pytest.fixture(scope="module")
def iam_moto():
    """A second moto server that enforces IAM after its first 4 calls (set-up), to get a real denial."""
    with moto_running(env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"}, what="moto_server (IAM)") as endpoint:
        yield endpoint


def test_access_denied_names_the_secret(iam_moto, monkeypatch):
    endpoint = iam_moto
    kwargs = {
        "endpoint_url": endpoint,
        "region_name": "eu-west-2",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    secrets_client(endpoint).create_secret(Name="jewelry/denied", SecretString=DB_VALUE)
    iam = boto3.client("iam", **kwargs)
    iam.create_user(UserName="app")
    key = iam.create_access_key(UserName="app")["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    iam.put_user_policy(UserName="app", PolicyName="no-secrets", PolicyDocument=json.dumps(policy))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])

    with pytest.raises(loader.SecretsError) as caught:
        loader.load_secrets(environ=environ(endpoint, db="jewelry/denied"))
    assert str(caught.value) == (
        "secret 'jewelry/denied': access denied (the app's IAM policy must allow secretsmanager:GetSecretValue on it)"
    )


def test_prod_start_up_stops_with_one_line(aws_env):
    """Production settings + a malformed APP_CONFIG: exit 1, one line on stderr, no traceback, no value."""
    app_id = create_secret(aws_env, '{"SECRET_KEY": "' + CLIENT_SECRET + '", ')
    env = prod_env(
        database_url=database_url("jewelry"),
        moto=aws_env,
        DJANGO_APP_CONFIG_SECRET_ID=app_id,
    )
    result = run_manage("check", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"start-up stopped: secret {app_id!r}: is not valid JSON (line 1, column ")
    assert CLIENT_SECRET not in result.stdout + result.stderr


def test_prod_settings_read_everything_from_secrets(aws_env):
    """Only secret ids, the DB URL and region in the environment: APP_CONFIG supplies the rest."""
    key = strong_secret_key()
    db_id = create_secret(aws_env, json.dumps({"username": "shop_app_b", "password": DB_VALUE}))
    app_id = create_secret(
        aws_env,
        json.dumps(
            {
                "SECRET_KEY": key,
                "ALLOWED_HOSTS": ["shop.example.com", "www.shop.example.com"],
                "MEDIA_BUCKET": "aurelia-media",
                "CLOUDFRONT_DOMAIN": "d1234abcd.cloudfront.net",
                "DEFAULT_FROM_EMAIL": "Maison Aurelia <orders@shop.example.com>",
            }
        ),
    )
    env = prod_env(
        database_url=database_url("jewelry"),
        moto=aws_env,
        DJANGO_DB_PASSWORD_SECRET_ID=db_id,
        DJANGO_APP_CONFIG_SECRET_ID=app_id,
        # Written at first boot; the secret is the newer word (jewelry_site/secrets_manager.py).
        DJANGO_DEFAULT_FROM_EMAIL="Boot <ops@shop.example.com>",
    )
    # The expected values travel by environment so the script itself holds none.
    env.update(EXPECT_KEY=key, EXPECT_PW=DB_VALUE)
    script = (
        "import json, os; from django.conf import settings as s; "
        "print(json.dumps({'key_ok': s.SECRET_KEY == os.environ['EXPECT_KEY'], 'hosts': s.ALLOWED_HOSTS, "
        "'bucket': s.AWS_STORAGE_BUCKET_NAME, 'cdn': s.CLOUDFRONT_DOMAIN, 'from': s.DEFAULT_FROM_EMAIL, "
        "'user': s.DATABASES['default']['USER'], "
        "'pw_ok': s.DATABASES['default']['PASSWORD'] == os.environ['EXPECT_PW'], "
        "'csrf': s.CSRF_TRUSTED_ORIGINS, 'config_keys': sorted(s.APP_CONFIG)}))"
    )
    result = run_manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert sum("secrets_loaded" in line for line in lines) == 1
    assert sum("secrets_override_environment" in line for line in lines) == 1
    assert json.loads(lines[-1]) == {
        "key_ok": True,
        "hosts": ["shop.example.com", "www.shop.example.com"],
        "bucket": "aurelia-media",
        "cdn": "d1234abcd.cloudfront.net",
        "from": "Maison Aurelia <orders@shop.example.com>",  # the secret beats the environment file
        "user": "shop_app_b",
        "pw_ok": True,
        "csrf": ["https://shop.example.com", "https://www.shop.example.com"],
        "config_keys": ["ALLOWED_HOSTS", "CLOUDFRONT_DOMAIN", "DEFAULT_FROM_EMAIL", "MEDIA_BUCKET", "SECRET_KEY"],
    }
    assert DB_VALUE not in result.stdout + result.stderr
    assert key not in result.stdout + result.stderr


def test_settings_copy_of_app_config_masks_all_but_public_values():
    shown = loader.app_config_for_settings(
        {"MEDIA_BUCKET": "aurelia-media", "SECRET_KEY": "k" * 50, "EMAIL_URL": "smtp://u:pw@h", "COGNITO_DOMAIN": "d"}
    )
    assert shown == {
        "MEDIA_BUCKET": "aurelia-media",
        "SECRET_KEY": loader.MASKED,
        "EMAIL_URL": loader.MASKED,
        "COGNITO_DOMAIN": "d",
    }


def test_error_reports_mask_secret_values(settings):
    """APP_CONFIG and the DB password are settings; Django's error reports must not show them."""
    from django.views.debug import SafeExceptionReporterFilter

    settings.APP_CONFIG = {"SECRET_KEY": "k" * 50, "COGNITO_CLIENT_SECRET": CLIENT_SECRET, "MEDIA_BUCKET": "b"}
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert CLIENT_SECRET not in json.dumps(safe, default=str)
    assert safe["APP_CONFIG"]["MEDIA_BUCKET"] == "b"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"DJANGO_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"},
            "start-up stopped: DJANGO_EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend delivers no e-mail;"
            " production uses SMTP.",
        ),
        (
            {"DJANGO_EMAIL_HOST": ""},
            "start-up stopped: set DJANGO_EMAIL_HOST (or its key in operator-config): production has no default"
            " for it.",
        ),
    ],
    ids=["console-backend", "no-smtp-host"],
)
def test_prod_never_prints_order_emails_into_the_logs(extra, message):
    env = prod_env(
        database_url=database_url("jewelry"),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        **extra,
    )
    result = run_manage("check", env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [message]


def test_prod_smtp_settings_come_from_app_config_with_the_password_masked(aws_env):
    smtp_password = "BEXAMPLEsesSmtpPasswordValue0123456789abcdef"
    app_id = create_secret(
        aws_env,
        json.dumps(
            {
                "SECRET_KEY": strong_secret_key(),
                "ALLOWED_HOSTS": "shop.example.com",
                "EMAIL_HOST": "email-smtp.eu-west-2.amazonaws.com",
                "EMAIL_HOST_USER": "AKIAEXAMPLESMTPUSER",
                "EMAIL_HOST_PASSWORD": smtp_password,
            }
        ),
    )
    env = prod_env(database_url=database_url("jewelry"), moto=aws_env, DJANGO_APP_CONFIG_SECRET_ID=app_id)
    del env["DJANGO_EMAIL_HOST"]  # from APP_CONFIG only
    env.update(EXPECT_PW=smtp_password)
    script = (
        "import json, os; from django.conf import settings as s; "
        "print(json.dumps({'backend': s.EMAIL_BACKEND, 'host': s.EMAIL_HOST, 'port': s.EMAIL_PORT, "
        "'tls': s.EMAIL_USE_TLS, 'timeout': s.EMAIL_TIMEOUT, 'user': s.EMAIL_HOST_USER, "
        "'pw_ok': s.EMAIL_HOST_PASSWORD == os.environ['EXPECT_PW'], 'shown': s.APP_CONFIG['EMAIL_HOST_PASSWORD']}))"
    )
    result = run_manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "backend": "django.core.mail.backends.smtp.EmailBackend",
        "host": "email-smtp.eu-west-2.amazonaws.com",
        "port": 587,
        "tls": True,
        "timeout": 10,
        "user": "AKIAEXAMPLESMTPUSER",
        "pw_ok": True,
        "shown": "********",
    }
    assert smtp_password not in result.stdout + result.stderr


def test_prod_after_a_from_email_update_keeps_the_operators_keys_and_the_signing_key(aws_env):
    """The instance as the new stack leaves it: the env file from first boot, the generated SECRET_KEY, the
    stack's derived secrets and the operator's keys; the operator moved the sender after a FromEmail change."""
    key = strong_secret_key()
    generated = create_secret(aws_env, json.dumps({"SECRET_KEY": key}))
    derived = create_secret(aws_env, json.dumps({"COGNITO_CLIENT_SECRET": CLIENT_SECRET, "ORIGIN_VERIFY_ROTATION": 2}))
    operator = create_secret(
        aws_env,
        json.dumps(
            {
                "SHOP_BANK_TRANSFER_DETAILS": "Maison Aurelia Ltd, Sort code 20-00-00, Account 87654321",
                "EMAIL_HOST_USER": "AKIAEXAMPLESMTPUSER",
                "DEFAULT_FROM_EMAIL": "Maison Aurelia <boutique@shop.example.com>",
            }
        ),
    )
    env = prod_env(
        database_url=database_url("jewelry"),
        moto=aws_env,
        DJANGO_APP_CONFIG_SECRET_ID=generated,
        DJANGO_STACK_SECRETS_SECRET_ID=derived,
        DJANGO_OPERATOR_CONFIG_SECRET_ID=operator,
        # What bootstrap wrote at first boot, before the FromEmail change.
        DJANGO_ALLOWED_HOSTS="shop.example.com",
        DJANGO_DEFAULT_FROM_EMAIL="Maison Aurelia <orders@shop.example.com>",
        DJANGO_COGNITO_REGION="eu-west-2",
        DJANGO_COGNITO_USER_POOL_ID="eu-west-2_AbCdEfGhI",
        DJANGO_COGNITO_CLIENT_ID="1example23456789",
        DJANGO_COGNITO_DOMAIN="aurelia-shop.auth.eu-west-2.amazoncognito.com",
        EXPECT_KEY=key,
    )
    del env["DJANGO_SHOP_BANK_TRANSFER_DETAILS"]  # from the operator's secret only
    script = (
        "import json, os; from django.conf import settings as s; "
        "print(json.dumps({'key_ok': s.SECRET_KEY == os.environ['EXPECT_KEY'], 'from': s.DEFAULT_FROM_EMAIL, "
        "'bank': s.SHOP_BANK_TRANSFER_DETAILS, 'smtp_user': s.EMAIL_HOST_USER, 'hosts': s.ALLOWED_HOSTS, "
        "'oidc': s.OIDC_ENABLED}))"
    )
    result = run_manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "key_ok": True,
        "from": "Maison Aurelia <boutique@shop.example.com>",
        "bank": "Maison Aurelia Ltd, Sort code 20-00-00, Account 87654321",
        "smtp_user": "AKIAEXAMPLESMTPUSER",
        "hosts": ["shop.example.com"],
        "oidc": True,  # Cognito ids from the env file, its client secret from the stack's derived secret
    }
    assert key not in result.stdout + result.stderr
    assert CLIENT_SECRET not in result.stdout + result.stderr
