"""A database outage is temporary: shoppers get 503 with Retry-After, not a 500."""

import pytest


@pytest.fixture
def failing_client(client, settings):
    settings.ROOT_URLCONF = "tests.deploy.urls_db_down"
    client.raise_request_exception = False
    return client


def test_lost_database_answers_503_with_retry_after(failing_client):
    response = failing_client.get("/database-gone/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"back in a moment" in response.content


def test_a_bug_is_still_a_500(failing_client):
    response = failing_client.get("/bug/")
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
