"""Admin as the instructors' review tool: course restriction, the session report, reviews, CSV export, filters."""
import csv
import importlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import AsyncClient
from django.utils import timezone as django_timezone

from engagement import services as engagement_services
from engagement.admin import EngagementLogAdmin
from engagement.models import EngagementLog
from monitor import charts, reviews, selectors, services
from monitor.admin import ExamSessionAdmin
from monitor.models import Alert, AlertKind, CourseAssignment, ExamSession
from tests import images

pytestmark = pytest.mark.django_db
User = get_user_model()
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
# Every 5 s: two faces at 10 s and 15 s open "multiple faces" (closed at 20 s); no face from 25 s to 35 s opens
# "absent" at 35 s (closed at 40 s).
SCENARIO = ["face", "face", "two", "two", "face", "coffee", "coffee", "coffee", "face", "face"]
EMOTION_COLUMNS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@lru_cache
def jpeg(name: str) -> bytes:
    frame = {"face": images.webcam_face, "two": images.two_faces,
             "coffee": lambda: images.no_face_images()["coffee"]}[name]()
    return images.encode(frame)


def record(session, frames, start=T0):
    """Send frames through the real engine and record them on the session, 5 s apart."""
    for index, name in enumerate(frames):
        result = engagement_services.frame_analyze(frame=engagement_services.Frame(
            image=jpeg(name), timestamp=(start + timedelta(seconds=5 * index)).isoformat()))
        services.session_frame_record(session_id=session.id, user=session.learner, result=result)


def instructors_group():
    """The migration's group (recreated when a transactional test has flushed the database)."""
    group = Group.objects.filter(name="Instructors").first()
    if group is None:
        migration = importlib.import_module("monitor.migrations.0002_instructors_group")
        group = Group.objects.create(name="Instructors")
        for app_label, codename in migration.PERMISSIONS:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return group


def make_instructor(username, *courses):
    user = User.objects.create_user(username, password=f"{username}-password", is_staff=True)
    user.groups.add(instructors_group())
    for course in courses:
        CourseAssignment.objects.create(instructor=user, course_id=course)
    return user


@dataclass
class World:
    ines: User  # instructor of c1
    otto: User  # instructor of c2
    root: User  # superuser
    s1: ExamSession  # c1/e1, active, ten frames, two closed alerts
    s2: ExamSession  # c2/e1, active, three frames, one closed alert
    s3: ExamSession  # c1/e2, scheduled, no frames


@pytest.fixture
def world():
    lea = User.objects.create_user("lea", password="lea-password")
    leo = User.objects.create_user("leo", password="leo-password")
    s1 = services.session_create(learner=lea, course_id="c1", exam_id="e1", attempt_id="attempt-7")
    s2 = services.session_create(learner=leo, course_id="c2", exam_id="e1")
    s3 = services.session_create(learner=leo, course_id="c1", exam_id="e2")
    record(s1, SCENARIO)
    record(s2, ["two", "two", "face"])
    world = World(ines=make_instructor("ines", "c1"), otto=make_instructor("otto", "c2"),
                  root=User.objects.create_superuser("root", password="root-password"),
                  s1=ExamSession.objects.get(pk=s1.pk), s2=ExamSession.objects.get(pk=s2.pk), s3=s3)
    assert sorted(world.s1.alerts.values_list("kind", flat=True)) == ["absent", "multiple_faces"]
    assert list(world.s2.alerts.values_list("kind", flat=True)) == ["multiple_faces"]
    return world


def session_url(session):
    return f"/admin/monitor/examsession/{session.pk}/change/"


def changelist_ids(response):
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def between(text, start, end):
    begin = text.index(start) + len(start)
    return text[begin:text.index(end, begin)]


def figure(html, name):
    return between(html, f'data-figure="{name}">', "<")


def inline_data(session, reviewed=(), **extra):
    """A POST of the session's page: its alerts inline, with the boxes of `reviewed` checked."""
    alerts = list(session.alerts.order_by("opened_at"))
    data = {"alerts-TOTAL_FORMS": len(alerts), "alerts-INITIAL_FORMS": len(alerts), "alerts-MIN_NUM_FORMS": 0,
            "alerts-MAX_NUM_FORMS": 1000, "_continue": "Save", **extra}
    for index, alert in enumerate(alerts):
        data[f"alerts-{index}-id"] = alert.pk
        data[f"alerts-{index}-session"] = session.pk
        if alert in reviewed:
            data[f"alerts-{index}-mark_reviewed"] = "on"
    return data


def test_report_page_shows_facts_live_summary_and_charts(client, world):
    client.force_login(world.ines)
    response = client.get(session_url(world.s1))
    assert response.status_code == 200
    html = response.content.decode()
    report = between(html, 'id="session-report"', "</section>")
    for fact in ("<dd>lea</dd>", "<dd>c1</dd>", "<dd>e1</dd>", "<dd>attempt-7</dd>", "<dd>In progress</dd>"):
        assert fact in report
    # In progress: the summary is computed for the page.
    assert "Live summary" in report
    assert (figure(report, "frames"), figure(report, "analyzed_frames"), figure(report, "no_face_frames")) == \
        ("10", "7", "3")
    assert figure(report, "average_score") == f"{world.s1.average_score:.1f}"
    assert figure(report, "duration") == "50 s" and figure(report, "alerts") == "2"  # 10 frames, 5 s each

    timeline = between(report, '<figure data-chart="timeline">', "</figure>")
    assert "minutes since the first frame" in timeline  # not clock times with their date parts
    assert timeline.startswith("<svg") and 'aria-label="Engagement timeline"' in timeline
    assert "<?xml" not in timeline and 'width="' not in timeline.split(">", 1)[0]
    # Alert spans are drawn and labelled by kind, in the chart itself.
    assert "alert: Several faces" in timeline and "alert: Absent" in timeline
    assert " Several faces</text>" in timeline and " Absent</text>" in timeline
    assert "smoothed score" in timeline and "no face analysed" in timeline

    status = between(report, '<figure data-chart="status">', "</figure>")
    # In words people read (the enums' labels), not codes.
    assert status.startswith("<svg") and "Highly engaged" in status and "No face in view" in status
    assert "no_face" not in status and "highly_engaged" not in status
    no_face = selectors.session_summary(session=world.s1)["seconds_by_status"]["no_face"]
    assert no_face == 15 and ">15 s</text>" in status  # the bar's label

    emotions = between(report, 'id="emotion-shares">', "</table>")
    assert emotions.index("<td>happy</td>") < emotions.index("<td>neutral</td>")  # largest share first
    happy = selectors.session_summary(session=world.s1)["emotion_shares"]["happy"]
    assert f"<tr><td>happy</td><td>{happy:.1f} %</td>" in emotions


def test_report_of_an_ended_session_uses_its_stored_summary(client, world):
    services.session_end(session=world.s1)
    stored = ExamSession.objects.get(pk=world.s1.pk).summary
    # Only the stored summary can say 999: the page must not recompute it.
    ExamSession.objects.filter(pk=world.s1.pk).update(summary={**stored, "frames": 999})
    client.force_login(world.ines)
    html = client.get(session_url(world.s1)).content.decode()
    assert figure(html, "frames") == "999" and "Summary stored when the session ended" in html


def test_report_of_a_session_without_frames(client, world):
    client.force_login(world.ines)
    html = client.get(session_url(world.s3)).content.decode()
    report = between(html, 'id="session-report"', "</section>")
    assert "<svg" not in report and "No frames recorded yet." in report and figure(report, "frames") == "0"


def test_instructors_see_only_their_courses_sessions(client, world):
    client.force_login(world.ines)
    assert changelist_ids(client.get("/admin/monitor/examsession/")) == {world.s1.pk, world.s3.pk}
    # Admin answers a hidden object as a missing one: a redirect to the index with a message.
    hidden = client.get(session_url(world.s2))
    assert hidden.status_code == 302 and hidden["Location"] == "/admin/"
    response = client.get("/admin/monitor/examsession/")
    course_filter = next(spec for spec in response.context["cl"].filter_specs
                         if getattr(spec, "lookup_kwarg", "") == "course_id")
    assert list(course_filter.lookup_choices) == ["c1"]  # other courses' names do not leak either

    client.force_login(world.otto)
    assert changelist_ids(client.get("/admin/monitor/examsession/")) == {world.s2.pk}
    assert client.get(session_url(world.s1)).status_code == 302
    client.force_login(make_instructor("nina"))  # no course yet
    assert changelist_ids(client.get("/admin/monitor/examsession/")) == set()
    client.force_login(world.root)
    assert changelist_ids(client.get("/admin/monitor/examsession/")) == {world.s1.pk, world.s2.pk, world.s3.pk}
    assert client.get(session_url(world.s2)).status_code == 200


def test_alert_admin_is_restricted_too(client, world):
    s1_alerts = set(world.s1.alerts.values_list("pk", flat=True))
    client.force_login(world.ines)
    assert changelist_ids(client.get("/admin/monitor/alert/")) == s1_alerts
    other = world.s2.alerts.get()
    assert client.get(f"/admin/monitor/alert/{other.pk}/change/").status_code == 302
    client.force_login(world.root)
    assert changelist_ids(client.get("/admin/monitor/alert/")) == s1_alerts | {other.pk}


def test_engagement_log_admin_shows_only_logs_of_visible_sessions(client, world):
    assert isinstance(admin.site._registry[EngagementLog], EngagementLogAdmin)
    # A log from outside any exam (the try page) is for superusers only.
    engagement_services.frame_analyze(frame=engagement_services.Frame(image=jpeg("face")), session_id="try-123")
    s1_logs = set(EngagementLog.objects.filter(session_key=str(world.s1.pk)).values_list("pk", flat=True))
    assert len(s1_logs) == 10
    client.force_login(world.ines)
    assert changelist_ids(client.get("/admin/engagement/engagementlog/")) == s1_logs
    hidden = EngagementLog.objects.filter(session_key=str(world.s2.pk)).first()
    assert client.get(f"/admin/engagement/engagementlog/{hidden.pk}/change/").status_code == 302
    assert client.get(f"/admin/engagement/engagementlog/{min(s1_logs)}/change/").status_code == 200
    client.force_login(world.root)
    assert len(changelist_ids(client.get("/admin/engagement/engagementlog/"))) == 10 + 3 + 1


def test_inline_box_records_the_reviewer_once(client, world):
    first, second = world.s1.alerts.order_by("opened_at")
    client.force_login(world.ines)
    page = client.get(session_url(world.s1))
    assert page.context["inline_admin_formsets"][0].formset.prefix == "alerts"
    assert 'name="alerts-0-mark_reviewed"' in page.content.decode()
    before = django_timezone.now()
    response = client.post(session_url(world.s1), inline_data(world.s1, reviewed=[first]))
    assert response.status_code == 302, response.context and response.context["errors"]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.reviewed_by == world.ines and before <= first.reviewed_at <= django_timezone.now()
    assert second.reviewed_by is None and second.reviewed_at is None
    # Reviewing again (another instructor of the course, the box posted anyway) keeps the first review.
    reviewed_at = first.reviewed_at
    client.force_login(make_instructor("ivan", "c1"))
    html = client.get(session_url(world.s1)).content.decode()
    assert 'name="alerts-0-mark_reviewed" disabled' in html or 'disabled id="id_alerts-0-mark_reviewed"' in html
    assert client.post(session_url(world.s1), inline_data(world.s1, reviewed=[first, second])).status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.reviewed_by, first.reviewed_at) == (world.ines, reviewed_at)
    assert second.reviewed_by.username == "ivan"


def test_review_action_and_reviewed_filter(client, world):
    every_alert = list(Alert.objects.values_list("pk", flat=True))
    client.force_login(world.ines)
    assert changelist_ids(client.get("/admin/monitor/alert/?reviewed=yes")) == set()
    response = client.post("/admin/monitor/alert/", {"action": "review_selected", "_selected_action": every_alert})
    assert response.status_code == 302
    # Only the alerts the instructor can see were reviewed, even though every id was posted.
    assert set(Alert.objects.filter(reviewed_by=world.ines).values_list("session", flat=True)) == {world.s1.pk}
    assert world.s2.alerts.get().reviewed_by is None
    s1_alerts = set(world.s1.alerts.values_list("pk", flat=True))
    assert changelist_ids(client.get("/admin/monitor/alert/?reviewed=yes")) == s1_alerts
    assert changelist_ids(client.get("/admin/monitor/alert/?reviewed=no")) == set()
    client.force_login(world.root)
    client.post("/admin/monitor/alert/", {"action": "review_selected", "_selected_action": every_alert})
    assert set(Alert.objects.values_list("reviewed_by__username", flat=True)) == {"ines", "root"}
    assert world.s2.alerts.get().reviewed_by == world.root


def test_instructors_change_nothing_but_the_review(client, world):
    alert = world.s1.alerts.get(kind=AlertKind.ABSENT)
    frozen = Alert.objects.filter(pk=alert.pk).values().get()
    client.force_login(world.ines)
    url = f"/admin/monitor/alert/{alert.pk}/change/"
    before = django_timezone.now()
    assert list(client.get(url).context["adminform"].form.fields) == ["mark_reviewed"]
    response = client.post(url, {"kind": "struggling", "severity": "info", "message": "nothing happened",
                                 "opened_at": "2020-01-01 00:00:00", "closed_at": "", "frame_count": 0,
                                 "session": world.s2.pk, "reviewed_by": world.otto.pk,
                                 "reviewed_at": "2020-01-01 00:00:00", "mark_reviewed": "on"})
    assert response.status_code == 302
    after = Alert.objects.filter(pk=alert.pk).values().get()
    assert after["reviewed_by_id"] == world.ines.pk and after["reviewed_at"] >= before
    assert {k: v for k, v in after.items() if not k.startswith("reviewed")} == \
        {k: v for k, v in frozen.items() if not k.startswith("reviewed")}

    session_before = ExamSession.objects.filter(pk=world.s1.pk).values().get()
    response = client.post(session_url(world.s1), inline_data(world.s1, course_id="c2", exam_id="x", status="ended",
                                                              learner=world.ines.pk, frame_interval=1))
    assert response.status_code == 302
    assert ExamSession.objects.filter(pk=world.s1.pk).values().get() == session_before
    assert client.get("/admin/monitor/alert/add/").status_code == 403
    assert client.post(f"/admin/monitor/alert/{alert.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Alert.objects.filter(pk=alert.pk).exists()
    # Nor may they give themselves a course.
    assert client.get("/admin/monitor/courseassignment/add/").status_code == 403
    assert changelist_ids(client.get("/admin/monitor/courseassignment/")) == set(
        CourseAssignment.objects.filter(instructor=world.ines).values_list("pk", flat=True))


def test_review_service_is_idempotent_and_checks_the_course(world):
    alert = world.s1.alerts.first()
    with pytest.raises(reviews.ReviewNotAllowed):
        reviews.alert_review(alert=alert, reviewer=world.otto)
    assert Alert.objects.get(pk=alert.pk).reviewed_at is None
    first = reviews.alert_review(alert=alert, reviewer=world.ines)
    again = reviews.alert_review(alert=Alert.objects.get(pk=alert.pk), reviewer=world.root)
    assert again.reviewed_by == world.ines and again.reviewed_at == first.reviewed_at


def csv_export(client, sessions):
    response = client.post("/admin/monitor/examsession/", {"action": "export_logs_csv",
                                                            "_selected_action": [s.pk for s in sessions]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.streaming and response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_csv_export_of_logs_respects_the_course(client, world):
    client.force_login(world.ines)
    header, *rows = csv_export(client, [world.s1, world.s2])
    assert header == ["session_id", "learner", "frame_time", "success", "error", "dominant_emotion",
                      "engagement_score", "engagement_status", "face_count", "head_yaw", "head_pitch",
                      "looking_away", *EMOTION_COLUMNS, "age", "gender", "processing_ms"]
    logs = list(EngagementLog.objects.filter(session_key=str(world.s1.pk)).order_by("frame_time"))
    assert len(rows) == len(logs) == 10
    for row, log in zip(rows, logs):
        line = dict(zip(header, row))
        assert (line["session_id"], line["learner"]) == (str(world.s1.pk), "lea")
        assert datetime.fromisoformat(line["frame_time"]) == log.frame_time
        assert line["success"] == ("true" if log.success else "false") and line["error"] == log.error
        assert line["engagement_status"] == log.engagement_status and line["face_count"] == str(log.face_count)
        assert line["dominant_emotion"] == log.dominant_emotion
        assert line["engagement_score"] == ("" if log.engagement_score is None else str(log.engagement_score))
        for emotion in EMOTION_COLUMNS:
            assert line[emotion] == (str(log.emotions[emotion]) if log.emotions else "")
        assert line["age"] == ("" if log.age is None else str(log.age)) and line["gender"] == log.gender
        assert line["head_yaw"] == ("" if log.head_yaw is None else str(log.head_yaw))
        assert line["looking_away"] == {None: "", True: "true", False: "false"}[log.looking_away]
        assert float(line["processing_ms"]) == log.processing_ms
    assert {r[4] for r in rows} == {"", "no_face"} and {r[8] for r in rows} == {"0", "1", "2"}
    client.force_login(world.root)
    _, *rows = csv_export(client, [world.s1, world.s2])
    assert [r[0] for r in rows].count(str(world.s2.pk)) == 3 and len(rows) == 13


@pytest.mark.django_db(transaction=True)
async def test_csv_export_streams_under_asgi(world):
    client = AsyncClient()
    await client.aforce_login(world.ines)
    response = await client.post("/admin/monitor/examsession/", {"action": "export_logs_csv",
                                                                  "_selected_action": [world.s1.pk, world.s2.pk]})
    assert response.status_code == 200
    # An async iterator: served as it is read, where a sync one would be read whole into memory first.
    assert response.is_async
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 1 + 10 and {row[0] for row in rows[1:]} == {str(world.s1.pk)}


def test_superusers_edit_session_fields_without_touching_live_state(client, world, monkeypatch):
    load = ExamSessionAdmin.get_object

    def load_then_a_frame_arrives(self, request, object_id, from_field=None):
        session = load(self, request, object_id, from_field)
        if request.method == "POST":  # the running session records a frame while the admin saves
            record(world.s1, ["face"], start=T0 + timedelta(seconds=50))
        return session

    monkeypatch.setattr(ExamSessionAdmin, "get_object", load_then_a_frame_arrives)
    client.force_login(world.root)
    form = {"learner": world.s1.learner_id, "course_id": "c1", "exam_id": "e1-retake", "attempt_id": "attempt-7",
            "status": "active", "frame_interval": 5.0, "rule_state": "{}", "frame_count": 0, "summary": "null"}
    response = client.post(session_url(world.s1), inline_data(world.s1, **form))
    assert response.status_code == 302, response.context and response.context["errors"]
    after = ExamSession.objects.get(pk=world.s1.pk)
    assert after.exam_id == "e1-retake"
    assert after.frame_count == 11 and after.last_frame_at == T0 + timedelta(seconds=50)  # the frame is kept


def test_session_filters(client, world, settings):
    client.force_login(world.ines)
    listing = "/admin/monitor/examsession/"
    assert changelist_ids(client.get(listing + "?course_id=c1&exam_id=e2")) == {world.s3.pk}
    assert changelist_ids(client.get(listing + "?course_id=c2")) == set()  # still not theirs
    assert changelist_ids(client.get(listing + "?status__exact=scheduled")) == {world.s3.pk}
    assert changelist_ids(client.get(listing + "?status__exact=active")) == {world.s1.pk}

    assert changelist_ids(client.get(listing + "?unreviewed=yes")) == {world.s1.pk}
    assert changelist_ids(client.get(listing + "?unreviewed=no")) == {world.s3.pk}
    reviews.alert_review(alert=world.s1.alerts.first(), reviewer=world.ines)
    assert changelist_ids(client.get(listing + "?unreviewed=yes")) == {world.s1.pk}  # one is left
    reviews.alerts_review(alerts=world.s1.alerts.all(), reviewer=world.ines)
    assert changelist_ids(client.get(listing + "?unreviewed=yes")) == set()
    assert changelist_ids(client.get(listing + "?unreviewed=no")) == {world.s1.pk, world.s3.pk}

    average = world.s1.average_score
    settings.MONITOR = {**settings.MONITOR, "LOW_ENGAGEMENT_SCORE": average + 0.01}
    assert changelist_ids(client.get(listing + "?low_score=yes")) == {world.s1.pk}
    assert changelist_ids(client.get(listing + "?low_score=no")) == {world.s3.pk}  # no average yet: not low
    settings.MONITOR = {**settings.MONITOR, "LOW_ENGAGEMENT_SCORE": average}
    assert changelist_ids(client.get(listing + "?low_score=yes")) == set()
    assert changelist_ids(client.get(listing + "?low_score=no")) == {world.s1.pk, world.s3.pk}


def test_unreviewed_alert_count_column(client, world):
    reviews.alert_review(alert=world.s1.alerts.first(), reviewer=world.ines)
    client.force_login(world.ines)
    response = client.get("/admin/monitor/examsession/")
    counts = {s.pk: s.unreviewed_alert_count for s in response.context["cl"].result_list}
    assert counts == {world.s1.pk: 1, world.s3.pk: 0}


def test_long_sessions_are_downsampled(world):
    # The real session's frames, repeated over a long exam.
    points = selectors.session_timeline(session=world.s1)
    long = [{**point, "frame_time": point["frame_time"] + timedelta(seconds=50 * repeat)}
            for repeat in range(600) for point in points]
    alerts = list(world.s1.alerts.all())
    short_svg = charts.timeline_render(points=points, alerts=alerts, frame_interval=5, low_score=30)
    long_svg = charts.timeline_render(points=long, alerts=alerts, frame_interval=5, low_score=30)
    assert short_svg.count("<use ") >= 7  # a marker per analysed frame
    # Not one marker per frame (4200 analysed, 1800 not): at most one per unanalysed step, ticks and legend.
    assert long_svg.count("<use ") <= charts.MAX_POINTS + 50
    assert "4200 frames in 600 steps" in long_svg


def test_a_tampered_inline_naming_another_courses_alert_is_refused(client, world):
    """An inline form whose alert id belongs to another session (here another course's) is a 403, not a 500."""
    foreign = world.s2.alerts.get()
    client.force_login(world.ines)
    data = inline_data(world.s1)
    data["alerts-0-id"] = foreign.pk
    data["alerts-0-mark_reviewed"] = "on"
    response = client.post(session_url(world.s1), data)
    assert response.status_code == 403
    foreign.refresh_from_db()
    assert foreign.reviewed_by is None and foreign.session_id == world.s2.pk
    assert not world.s1.alerts.filter(reviewed_by__isnull=False).exists()


def test_end_session_action_ends_as_the_api_does(client, world):
    client.force_login(world.root)
    changelist = "/admin/monitor/examsession/"
    response = client.post(changelist, {"action": "end_sessions", "_selected_action": [world.s1.pk, world.s3.pk]},
                           follow=True)
    assert "2 session(s) ended" in response.content.decode()
    world.s1.refresh_from_db()
    assert world.s1.status == "ended" and world.s1.summary["frames"] == 10 and world.s1.ended_at
    assert not world.s1.alerts.filter(closed_at__isnull=True).exists()
    # Instructors review; they do not end sessions (the action is not offered, and a forged post does nothing).
    client.force_login(world.ines)
    page = client.get(changelist).content.decode()
    assert "end_sessions" not in page
    client.post(changelist, {"action": "end_sessions", "_selected_action": [world.s2.pk]})
    world.s2.refresh_from_db()
    assert world.s2.status == "active"


def test_status_is_read_only_and_times_read_to_the_second(client, world):
    client.force_login(world.root)
    html = client.get(session_url(world.s1)).content.decode()
    assert 'name="status"' not in html
    first = world.s1.alerts.order_by("opened_at").first()
    # Not the session's UUID; the time with its zone named (the viewer's, here TIME_ZONE's).
    assert str(first) == f"{first.get_kind_display()} at {first.opened_at:%H:%M:%S} UTC"
    logs = client.get("/admin/engagement/engagementlog/").content.decode()
    assert "09:00:05 UTC" in logs  # the second frame of the scenario, to the second


def test_mark_reviewed_button_reviews_one_alert_with_its_own_message(client, world):
    first, second = world.s1.alerts.order_by("opened_at")
    client.force_login(world.ines)
    page = client.get(session_url(world.s1)).content.decode()
    url = f"/admin/monitor/examsession/{world.s1.pk}/alerts/{first.pk}/review/"
    assert f'formaction="{url}"' in page and "Mark reviewed" in page
    response = client.post(url, inline_data(world.s1), follow=True)
    assert f"Alert \u201c{first}\u201d marked reviewed (by ines)." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.reviewed_by == world.ines and second.reviewed_by is None
    # Another course's instructor, and another session's alert id in the URL, are refused; nothing changes.
    foreign = world.s2.alerts.get()
    assert client.post(f"/admin/monitor/examsession/{world.s1.pk}/alerts/{foreign.pk}/review/").status_code == 403
    client.force_login(world.otto)
    assert client.post(f"/admin/monitor/examsession/{world.s1.pk}/alerts/{second.pk}/review/").status_code == 403
    second.refresh_from_db()
    foreign.refresh_from_db()
    assert second.reviewed_by is None and foreign.reviewed_by is None


def test_the_alert_list_links_critical_alerts_to_the_attempts_control_page(client, world):
    """As the report does: only where an integration offered control, while the attempt runs, for its controllers."""
    services.session_control_url_set(session=world.s1, url="/lti/control/s1/")
    assert world.s1.alerts.get(kind="multiple_faces").severity == "critical"
    assert world.s1.alerts.get(kind="absent").severity != "critical"
    assert world.s2.alerts.get().severity == "critical" and not world.s2.control_url

    def links(user):
        client.force_login(user)
        page = client.get("/admin/monitor/alert/").content.decode()
        return page.count('class="alert-control" href="/lti/control/s1/"'), page.count('class="alert-control"')

    # s1's critical alert only: not its absence (no breach), not s2's (no control offered).
    assert links(world.ines) == (1, 1) and links(world.root) == (1, 1)
    [row] = [r for r in client.get("/admin/monitor/alert/").content.decode().split("<tr") if "alert-control" in r]
    assert "Several faces" in row and "Absent" not in row
    assert links(make_instructor("ivy")) == (0, 0)  # an instructor of no course
    services.session_end(session=ExamSession.objects.get(pk=world.s1.pk))  # the attempt is over
    assert links(world.root) == (0, 0) and links(world.ines) == (0, 0)
