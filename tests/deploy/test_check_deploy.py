"""`manage.py check --deploy --fail-level WARNING` under production settings: zero findings."""

import json

from tests.deploy.conftest import PROD_HOST, create_secret, database_url, prod_env, run_manage, strong_secret_key

COGNITO_DOMAIN = "aurelia-shop.auth.eu-west-2.amazoncognito.com"


def full_app_config() -> dict:
    """Every documented APP_CONFIG key, as deploy/README.md describes them."""
    return {
        "SECRET_KEY": strong_secret_key(),
        "ALLOWED_HOSTS": PROD_HOST,
        "CSRF_TRUSTED_ORIGINS": f"https://{PROD_HOST}",
        "MEDIA_BUCKET": "aurelia-media-123456789012",
        "CLOUDFRONT_DOMAIN": "d1111abcdef8.cloudfront.net",
        "COGNITO_REGION": "eu-west-2",
        "COGNITO_USER_POOL_ID": "eu-west-2_AbCdEfGhI",
        "COGNITO_CLIENT_ID": "1example23456789",
        "COGNITO_CLIENT_SECRET": "cognito-client-secret-value",
        "COGNITO_DOMAIN": COGNITO_DOMAIN,
        "DEFAULT_FROM_EMAIL": f"Maison Aurelia <orders@{PROD_HOST}>",
        "ORIGIN_VERIFY_SECRET": "origin-verify-value-from-the-stack",
    }


def test_check_deploy_has_no_findings_with_plain_environment():
    env = prod_env(
        database_url=database_url("jewelry"),
        DJANGO_SECRET_KEY=strong_secret_key(),
        DJANGO_ALLOWED_HOSTS=PROD_HOST,
        DJANGO_ORIGIN_VERIFY_SECRET="origin-verify-value-from-the-stack",
    )
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # One silenced: django-ratelimit's W001 ("not on its list") for the database counters (issue #21).
    assert "System check identified no issues (1 silenced)." in result.stdout


def test_check_deploy_fails_behind_cloudfront_without_the_origin_secret():
    """Hops counting CloudFront (prod's default 3) and no origin secret: the release stops, naming it."""
    base = {"database_url": database_url("jewelry"), "DJANGO_SECRET_KEY": strong_secret_key()}
    env = prod_env(**base, DJANGO_ALLOWED_HOSTS=PROD_HOST)
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "jewelry_site.E001" in result.stderr
    assert "ORIGIN_VERIFY_SECRET" in result.stderr
    # Not behind CloudFront (load balancer and nginx only): no origin header to check, no finding.
    env = prod_env(**base, DJANGO_ALLOWED_HOSTS=PROD_HOST, DJANGO_TRUSTED_PROXY_HOPS="2")
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_has_no_findings_with_everything_from_secrets(aws_env):
    config = full_app_config()
    env = prod_env(
        database_url=database_url("jewelry"),
        moto=aws_env,
        DJANGO_DB_PASSWORD_SECRET_ID=create_secret(aws_env, json.dumps({"username": "shop", "password": "pw"})),
        DJANGO_APP_CONFIG_SECRET_ID=create_secret(aws_env, json.dumps(config)),
    )
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # One silenced: django-ratelimit's W001 ("not on its list") for the database counters (issue #21).
    assert "System check identified no issues (1 silenced)." in result.stdout
    assert config["COGNITO_CLIENT_SECRET"] not in result.stdout + result.stderr

    # The same configuration switches Cognito sign-in on and feeds the CSP its origins.
    script = (
        "import json; from django.conf import settings as s; from jewelry_site.middleware import csp_extra_sources; "
        "print(json.dumps({'oidc': s.OIDC_ENABLED, 'csp': csp_extra_sources()}))"
    )
    shell = run_manage("shell", "-c", script, env=env)
    assert shell.returncode == 0, shell.stderr
    seen = json.loads(shell.stdout.strip().splitlines()[-1])
    assert seen["oidc"] is True
    assert f"https://{COGNITO_DOMAIN}" in seen["csp"]["form-action"]
    assert "https://d1111abcdef8.cloudfront.net" in seen["csp"]["img-src"]
    assert "https://aurelia-media-123456789012.s3.eu-west-2.amazonaws.com" in seen["csp"]["connect-src"]
