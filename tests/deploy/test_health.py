"""/healthz and /readyz in-process (database up, pending migration, Host and HTTPS exemptions).

The database-down case runs a real gunicorn against a closed port: see test_prod_server.py.
"""

import pytest
from django.db.migrations.recorder import MigrationRecorder

from jewelry_site import health


@pytest.fixture(autouse=True)
def _fresh_migration_cache():
    health.clear_migration_cache()
    yield
    health.clear_migration_cache()


@pytest.mark.django_db
def test_healthz_needs_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_ok_when_database_answers_and_migrated(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert isinstance(body["duration_ms"], int | float)  # reported for the logs; its size is bench's business
    assert body["duration_ms"] >= 0


@pytest.mark.django_db
def test_readyz_caches_the_migration_check(client, django_assert_max_num_queries):
    client.get("/readyz")
    # Second probe: only the ping (SAVEPOINT/SET/SELECT), not the django_migrations read again.
    with django_assert_max_num_queries(4) as captured:
        assert client.get("/readyz").status_code == 200
    assert not any("django_migrations" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db
def test_readyz_503_with_a_pending_migration(client, json_log):
    latest = MigrationRecorder.Migration.objects.filter(app="catalog").order_by("-id").first()
    latest.delete()  # rolled back with the test's transaction
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "ok", "pending_migrations": 1}
    assert any(line.get("event") == "readyz_failed" and line["pending"] == 1 for line in json_log())


@pytest.mark.django_db
def test_probes_skip_host_check_and_https_redirect(client, settings):
    settings.ALLOWED_HOSTS = ["shop.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    # The load balancer probes the instance by private IP over plain HTTP.
    assert client.get("/healthz", HTTP_HOST="172.26.3.4").status_code == 200
    assert client.get("/readyz", HTTP_HOST="172.26.3.4").status_code == 200
    # Everything else still gets both protections.
    assert client.get("/", HTTP_HOST="172.26.3.4").status_code == 400
    redirect = client.get("/", HTTP_HOST="shop.example.com")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://shop.example.com/"


@pytest.mark.django_db
def test_readyz_names_the_release_it_serves(client, settings, tmp_path):
    health.release_revision.cache_clear()
    try:
        assert client.get("/readyz").json()["release"] == "checkout"  # a source tree has no REVISION
        health.release_revision.cache_clear()
        settings.BASE_DIR = tmp_path
        (tmp_path / "REVISION").write_text("0123456789abcdef0123456789abcdef01234567\n")
        assert client.get("/readyz").json()["release"] == "0123456789abcdef0123456789abcdef01234567"
    finally:
        health.release_revision.cache_clear()
