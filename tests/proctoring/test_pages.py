"""The home page links to every part of the product, and API 404s are JSON."""
import pytest


@pytest.mark.django_db
def test_home_links_everything(client):
    page = client.get("/").content.decode()
    for href in ("/engagement/try/", "/monitor/live/", "/admin/", "/api/docs/"):
        assert f'href="{href}"' in page


def test_unknown_api_paths_are_json_404(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
