"""Times in the viewer's time zone, the zone named: the browser's zone (a cookie), else TIME_ZONE."""
from datetime import datetime, timezone

import pytest
from django.contrib.auth import get_user_model

from monitor import services
from monitor.models import Alert, AlertKind, Severity
from proctoring.timezones import zone_parse

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 26, 9, 0, 5, tzinfo=timezone.utc)


@pytest.fixture
def admin_with_alert(client):
    """A superuser logged in, and one alert opened at 09:00:05 UTC."""
    get_user_model().objects.create_superuser("root", password="root-password")
    learner = get_user_model().objects.create_user("lea", password="x" * 12)
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    Alert.objects.create(session=session, kind=AlertKind.ABSENT, severity=Severity.WARNING, message="x",
                         opened_at=T0)
    client.login(username="root", password="root-password")
    return client


@pytest.mark.parametrize("cookie, shown", [
    ("Europe/Berlin", "2026-11-26 10:00:05 CET"),  # the instructor in Berlin reads their own clock
    ("America/New_York", "2026-11-26 04:00:05 EST"),
    (None, "2026-11-26 09:00:05 UTC"),  # no browser zone yet: TIME_ZONE, named
    ("Mars/Olympus_Mons", "2026-11-26 09:00:05 UTC"),  # not a zone: ignored, never an error
    ("../../etc/passwd", "2026-11-26 09:00:05 UTC"),
])
def test_admin_times_are_in_the_browsers_zone_and_named(admin_with_alert, cookie, shown):
    if cookie is not None:
        admin_with_alert.cookies["tz"] = cookie
    page = admin_with_alert.get("/admin/monitor/alert/")
    assert page.status_code == 200
    assert shown in page.content.decode()


def test_the_setting_gives_the_zone_until_the_browser_tells_its_own(admin_with_alert, settings):
    settings.TIME_ZONE = "Europe/London"
    assert "2026-11-26 09:00:05 GMT" in admin_with_alert.get("/admin/monitor/alert/").content.decode()


def test_zone_names_are_checked():
    assert zone_parse(name="Europe/Berlin").key == "Europe/Berlin"
    assert zone_parse(name="") is None and zone_parse(name="x" * 65) is None and zone_parse(name="Nowhere/X") is None


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_browser_in_berlin_reads_berlin_times_in_the_admin(live_server, request):
    from playwright.sync_api import expect

    from tests.browser import chromium_context, page_login, page_screenshot

    get_user_model().objects.create_superuser("root", password="root-password")
    learner = get_user_model().objects.create_user("lea", password="x" * 12)
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    Alert.objects.create(session=session, kind=AlertKind.ABSENT, severity=Severity.WARNING, message="x",
                         opened_at=T0)
    with chromium_context(timezone_id="Europe/Berlin") as context:
        page = context.new_page()
        # Any page of the site tells the server the browser's zone; the admin then shows times in it, named.
        page_login(page=page, base_url=live_server.url, username="root", password="root-password")
        assert {c["name"]: c["value"] for c in context.cookies()}["tz"] == "Europe/Berlin"
        page.goto(f"{live_server.url}/admin/monitor/alert/")
        expect(page.locator("#result_list")).to_contain_text("2026-11-26 10:00:05 CET")
        assert page.evaluate("EngagementTime.clock('2026-11-26T09:00:05Z')") == "10:00:05 CET"  # the same words
        page_screenshot(page=page, name=request.node.name)
