"""Secrets Manager at start-up: ``DB_PASSWORD`` and ``APP_CONFIG``, fetched once per process.

Production settings call :func:`load_secrets` while they are imported. gunicorn runs with
``preload_app`` (deploy/gunicorn.conf.py), so the master imports settings once and its workers
inherit the values by fork: one fetch per start, not one per worker. Nothing fetched here is
ever logged; a failure stops start-up with one line naming the secret id and the problem.

Environment variables (ids or full ARNs):

* ``DJANGO_DB_PASSWORD_SECRET_ID``: the database secret. Either a JSON object with ``password``
  (and optionally ``username``), which is what CloudFormation generates, or the bare password.
* ``DJANGO_APP_CONFIG_SECRET_ID``: a JSON object of upper-case keys (see ``APP_CONFIG_ALIASES``).
  Each key ``K`` becomes the default of the environment variable ``DJANGO_K`` (plus the aliases
  below), so an environment variable that is set always wins over the secret.
"""

import json
import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

DB_PASSWORD_SECRET_ENV = "DJANGO_DB_PASSWORD_SECRET_ID"  # noqa: S105 - a variable name
APP_CONFIG_SECRET_ENV = "DJANGO_APP_CONFIG_SECRET_ID"  # noqa: S105 - a variable name

# APP_CONFIG keys whose settings are read from environment variables not named DJANGO_<KEY>.
APP_CONFIG_ALIASES: dict[str, tuple[str, ...]] = {
    "MEDIA_BUCKET": ("DJANGO_AWS_STORAGE_BUCKET_NAME",),
}
# Values that may be shown (settings.APP_CONFIG, error reports); any other key's value is masked there.
PUBLIC_APP_CONFIG_KEYS = frozenset(
    {
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "MEDIA_BUCKET",
        "AWS_S3_REGION_NAME",
        "CLOUDFRONT_DOMAIN",
        "COGNITO_REGION",
        "COGNITO_USER_POOL_ID",
        "COGNITO_CLIENT_ID",
        "COGNITO_DOMAIN",
        "DEFAULT_FROM_EMAIL",
        "EMAIL_HOST",
        "EMAIL_PORT",
        "SHOP_SITE_URL",
        "STRIPE_ENABLED",
        "STRIPE_PUBLISHABLE_KEY",  # published in every payment page by design
    }
)
MASKED = "********"
_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,63}")

# Bounded: a start-up never hangs on an unreachable endpoint (3 attempts of at most ~3 s each).
CONNECT_TIMEOUT_SECONDS = 3
READ_TIMEOUT_SECONDS = 3
MAX_ATTEMPTS = 3

_ERROR_HINTS = {
    "ResourceNotFoundException": "not found (check the id or ARN and the region)",
    "AccessDeniedException": "access denied (the app's IAM policy must allow secretsmanager:GetSecretValue on it)",
    "AccessDenied": "access denied (the app's IAM policy must allow secretsmanager:GetSecretValue on it)",
    "DecryptionFailure": "cannot be decrypted (the app needs kms:Decrypt on the secret's key)",
    "InvalidRequestException": "cannot be read now (is it scheduled for deletion?)",
    "UnrecognizedClientException": "rejected the AWS credentials (check the access key)",
    "InvalidClientTokenId": "rejected the AWS credentials (check the access key)",
}


class SecretsError(ImproperlyConfigured):
    """Start-up cannot continue; the message names the secret and the problem, never the value."""


@dataclass(frozen=True)
class LoadedSecrets:
    db_password: str | None = None
    db_username: str | None = None
    app_config: dict[str, str] = field(default_factory=dict)
    secret_ids: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never show values, even in a debugger or a traceback
        return f"LoadedSecrets(secret_ids={self.secret_ids!r}, app_config_keys={sorted(self.app_config)!r})"


_cache: dict[tuple[str, ...], LoadedSecrets] = {}


def _region_for(secret_id: str, environ: Mapping[str, str]) -> str | None:
    if secret_id.startswith("arn:"):
        parts = secret_id.split(":")
        if len(parts) > 3 and parts[3]:
            return parts[3]
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")


def _client(region: str | None, endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    # Tests point AWS_ENDPOINT_URL at a moto server; in production it is unset (the real endpoint).
    return boto3.session.Session().client(
        "secretsmanager", region_name=region, endpoint_url=endpoint_url, config=config
    )


def fetch_secret_string(secret_id: str, *, environ: Mapping[str, str] = os.environ) -> str:
    """The secret's current string value, or SecretsError with a one-line reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    region = _region_for(secret_id, environ)
    if not region:
        raise SecretsError(f"secret {secret_id!r}: no AWS region (set AWS_REGION or use the secret's full ARN)")
    try:
        endpoint = environ.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or environ.get("AWS_ENDPOINT_URL") or None
        response = _client(region, endpoint).get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        if code not in _ERROR_HINTS and exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
            code = "AccessDenied"
        raise SecretsError(f"secret {secret_id!r}: {_ERROR_HINTS.get(code, f'Secrets Manager said {code}')}") from None
    except BotoCoreError as exc:
        raise SecretsError(f"secret {secret_id!r}: could not call Secrets Manager ({type(exc).__name__})") from None
    value = response.get("SecretString")
    if value is None:
        raise SecretsError(f"secret {secret_id!r}: is binary; store it as a string")
    if not value.strip():
        raise SecretsError(f"secret {secret_id!r}: is empty")
    return value


def _json_object(secret_id: str, value: str, *, shape: str) -> dict:
    """The secret's JSON object; the error names the secret and where the JSON breaks, never its text."""
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise SecretsError(f"secret {secret_id!r}: is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, dict):
        raise SecretsError(f"secret {secret_id!r}: must be {shape}")
    return data


def parse_db_secret(secret_id: str, value: str) -> tuple[str, str | None]:
    """(password, username or None) from a JSON object with ``password`` or from a bare password."""
    if not value.lstrip().startswith("{"):
        return value, None
    data = _json_object(secret_id, value, shape="a JSON object")
    password = data.get("password")
    if not isinstance(password, str) or not password:
        raise SecretsError(f'secret {secret_id!r}: JSON has no non-empty "password" string')
    username = data.get("username")
    if username is not None and (not isinstance(username, str) or not username):
        raise SecretsError(f'secret {secret_id!r}: "username" must be a non-empty string')
    return password, username


def parse_app_config(secret_id: str, value: str) -> dict[str, str]:
    """APP_CONFIG as a dict of upper-case keys to strings (numbers and booleans are accepted)."""
    data = _json_object(secret_id, value, shape="a JSON object of KEY: value")
    config: dict[str, str] = {}
    for key, item in data.items():
        if not _KEY.fullmatch(key):
            raise SecretsError(f"secret {secret_id!r}: key {key[:64]!r} must be UPPER_CASE letters, digits, _")
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        elif isinstance(item, list) and all(isinstance(x, str) for x in item):
            item = ",".join(item)
        if not isinstance(item, str):
            raise SecretsError(f"secret {secret_id!r}: value of {key} must be a string, number, boolean or list")
        config[key] = item
    return config


def _announce(secret_ids: tuple[str, ...]) -> None:
    """One JSON line per real fetch (ids only): proves workers do not fetch again, and is an audit trail."""
    from jewelry_site.logs import JsonFormatter

    record = logging.makeLogRecord(
        {
            "name": "shop.secrets",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "secrets_loaded",
            "event": "secrets_loaded",
            "ids": list(secret_ids),
            "pid": os.getpid(),
        }
    )
    print(JsonFormatter().format(record), file=sys.stdout, flush=True)


def load_secrets(*, environ: Mapping[str, str] = os.environ) -> LoadedSecrets:
    """Fetch the configured secrets once per process (cached by secret ids); nothing to do when unset."""
    db_id = environ.get(DB_PASSWORD_SECRET_ENV, "").strip()
    app_id = environ.get(APP_CONFIG_SECRET_ENV, "").strip()
    cache_key = (db_id, app_id, environ.get("AWS_ENDPOINT_URL", ""))
    if cache_key in _cache:
        return _cache[cache_key]
    if not db_id and not app_id:
        return LoadedSecrets()
    password = username = None
    if db_id:
        password, username = parse_db_secret(db_id, fetch_secret_string(db_id, environ=environ))
    app_config = parse_app_config(app_id, fetch_secret_string(app_id, environ=environ)) if app_id else {}
    ids = tuple(i for i in (db_id, app_id) if i)
    loaded = LoadedSecrets(db_password=password, db_username=username, app_config=app_config, secret_ids=ids)
    _cache[cache_key] = loaded
    _announce(ids)
    return loaded


def clear_cache() -> None:
    _cache.clear()


def app_config_for_settings(app_config: Mapping[str, str]) -> dict[str, str]:
    """APP_CONFIG as ``settings.APP_CONFIG``: every key, but only the public values (see the keys above).

    Settings get the real values through their DJANGO_* variables; this copy can end up in an
    error report or a debugger without leaking a key nobody thought to call "secret".
    """
    return {key: value if key in PUBLIC_APP_CONFIG_KEYS else MASKED for key, value in app_config.items()}


def env_names_for(key: str) -> tuple[str, ...]:
    return APP_CONFIG_ALIASES.get(key, (f"DJANGO_{key}",))


def apply_app_config(app_config: Mapping[str, str], *, environ: MutableMapping[str, str] = os.environ) -> list[str]:
    """Make each APP_CONFIG value the default of its environment variable(s); set variables win.

    Called by prod settings before ``base`` is imported, so every settings section (storage,
    OIDC, e-mail) reads its usual ``DJANGO_*`` variable and needs to know nothing about secrets.
    Returns the variable names that took their value from APP_CONFIG.
    """
    applied = []
    for key, value in app_config.items():
        for name in env_names_for(key):
            if name not in environ:
                environ[name] = value
                applied.append(name)
    return applied
