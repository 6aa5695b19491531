"""The admin lists instructors work in, in Chromium at 1280 px: every column is on screen, nothing scrolls sideways."""
from datetime import datetime, timedelta, timezone

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from monitor import services
from monitor.models import Alert, AlertKind, Severity
from tests.browser import chromium_context, page_login, page_screenshot
from tests.monitor.test_admin import make_instructor, record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
# An Open edX course key and a long exam name: what real LMS ids look like.
COURSE = "course-v1:UniversityX+CS101-Introduction+2026_Autumn"
EXAM = "block-v1:UniversityX+CS101+2026_Autumn+type@sequential+block@final_exam"


def fits(page, path, name):
    """Open an admin list (saved as a screenshot) and check that its table ends inside the 1280 px window."""
    page.goto(path)
    table = page.locator("#result_list")
    expect(table).to_be_visible()
    page_screenshot(page=page, name=name)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    right = table.evaluate("t => t.getBoundingClientRect().right")
    assert right <= 1280, f"{path}: the table ends at {right} px"
    # The last header is whole on screen too (no column cut off by a scrolled wrapper).
    last = page.locator("#result_list thead th").last
    assert last.evaluate("th => th.getBoundingClientRect().right") <= 1280
    # Nor hidden in the list's own scrolled box, under the filters.
    results = page.locator("#changelist .results")
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{path}: the list scrolls sideways"


def test_admin_lists_fit_1280_px(live_server):
    make_instructor("ines", COURSE)
    for n in range(3):
        learner = get_user_model().objects.create_user(f"learner.with.a.long.name{n}@university.example",
                                                       password="x" * 12)
        session = services.session_create(learner=learner, course_id=COURSE, exam_id=EXAM,
                                          attempt_id=f"attempt-{n}-7f3c9a2e-5d1b-4c8e-9f0a-2b6d8e4c1a7f")
        record(session, ["face", "coffee"])
        for i, kind in enumerate((AlertKind.ABSENT, AlertKind.CAMERA_BLOCKED, AlertKind.DISCONNECTED)):
            Alert.objects.create(session=session, kind=kind, severity=Severity.WARNING, message="x",
                                 opened_at=T0 + timedelta(minutes=i), closed_at=T0 + timedelta(minutes=i, seconds=30))
        # A platform that offered control of the attempt: its critical alert carries the link too.
        services.session_control_url_set(session=session, url=f"/lti/control/{session.id}/")
        Alert.objects.create(session=session, kind=AlertKind.MULTIPLE_FACES, severity=Severity.CRITICAL,
                             message="x", opened_at=T0 + timedelta(minutes=4))
    with chromium_context() as context:
        page = context.new_page()
        page_login(page=page, base_url=live_server.url, username="ines", password="ines-password")
        fits(page, f"{live_server.url}/admin/monitor/examsession/", "admin-sessions-1280")
        fits(page, f"{live_server.url}/admin/monitor/alert/", "admin-alerts-1280")
        assert page.locator("#result_list a.alert-control").count() == 3
        fits(page, f"{live_server.url}/admin/engagement/engagementlog/", "admin-logs-1280")
