"""The identity check of exams: reference from the first good frames, checks on a cadence and after gaps, the
alert when another person sits the exam, and the reference face gone when the session ends."""
import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from monitor import identity, presence, privacy, selectors, services
from monitor.presence import PresenceEvent
from monitor.models import Alert, ExamSession, IdentityReference, Webhook
from tests import images
from tests.monitor.conftest import FACE, NO_FACE
from tests.monitor.test_webhooks import receiver, wait_for  # noqa: F401 (receiver is a fixture)

pytestmark = pytest.mark.django_db(transaction=True)
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
HOPPER = images.data_url(images.webcam_hopper())
# The astronaut framed otherwise (smaller, elsewhere in the frame): the same person, another picture.
FACE_MOVED = images.data_url(images.composed_face(120, "grey", (400, 250)))


def dimmed(rgb, gain=0.18, gamma=2.2):
    """The frame in a dim room (the fairness benchmark's darkest-but-one light): the face is still found."""
    return images.data_url(np.clip((rgb / 255.0) ** gamma * gain * 255, 0, 255).astype(np.uint8))


def send(session, image, seconds):
    """One socket frame through the real path (analysis, identity, rules), received at T0 + seconds."""
    at = (T0 + timedelta(seconds=seconds)).isoformat()
    return services.session_frame_process(session_id=str(session.id), user_id=session.learner_id,
                                          frame_id=str(uuid.uuid4()), image=image, timestamp=None, server_time=at)


def state(session):
    return ExamSession.objects.get(pk=session.pk).rule_state.get("identity", {})


def described(outcome):
    return "describe" in outcome["analysis"]["timings_ms"]


@pytest.fixture
def lms_api():
    """The LMS service account's API client."""
    lms = get_user_model().objects.create_user("lms", password="x" * 12)
    lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    client = APIClient()
    client.force_authenticate(lms)
    return client


@pytest.fixture
def checked(learner):
    """A session with the identity check turned on for it (the site's default is off)."""
    return services.session_create(learner=learner, course_id="c1", exam_id="e1", identity_check=True)


def test_off_by_default_no_descriptor_is_computed(exam_session, settings):
    assert settings.MONITOR["IDENTITY_CHECK"] is False and exam_session.identity_check is None
    outcomes = [send(exam_session, FACE, 5 * i) for i in range(4)]
    assert not any(described(o) for o in outcomes)
    assert not IdentityReference.objects.exists() and "identity" not in ExamSession.objects.get().rule_state


def test_an_unchecked_session_costs_its_frames_no_query(exam_session, django_assert_num_queries):
    assert identity.descriptor_wanted(session_id=exam_session.id, now=T0) is None  # reads the session once
    with django_assert_num_queries(0):
        assert identity.descriptor_wanted(session_id=exam_session.id, now=T0) is None


def test_the_site_default_turns_it_on_and_a_session_can_turn_it_off(learner, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_CHECK": True}
    default = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    off = services.session_create(learner=learner, course_id="c1", exam_id="e2", identity_check=False)
    assert described(send(default, FACE, 0)) and not described(send(off, FACE, 0))


def test_the_reference_is_gathered_from_good_frames_then_checked_on_the_cadence(checked, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 3, "IDENTITY_CHECK_SECONDS": 60}
    # Two faces and no face are no reference frames; three frames of one face are.
    frames = [(images.data_url(images.two_faces()), 0), (NO_FACE, 5), (FACE, 10), (FACE_MOVED, 15), (FACE, 20)]
    outcomes = [send(checked, image, s) for image, s in frames]
    assert [described(o) for o in outcomes] == [False, False, True, True, True]
    reference = IdentityReference.objects.get(session=checked)
    assert np.frombuffer(bytes(reference.descriptors), np.float32).shape == (3 * 128,)
    assert state(checked)["frames"] == 3 and state(checked)["checked_at"] == (T0 + timedelta(seconds=20)).isoformat()
    # Then one check a minute: frames in between cost no descriptor.
    assert [described(send(checked, FACE, s)) for s in (25, 50, 75, 80, 85)] == [False, False, False, True, False]
    assert state(checked)["distance"] < settings.MONITOR["IDENTITY_THRESHOLD"]


def test_a_gap_makes_the_next_face_checked(checked, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 600,
                        "IDENTITY_RECHECK_SECONDS": 15}
    assert described(send(checked, FACE, 0))  # the reference
    assert not described(send(checked, FACE, 5))
    send(checked, NO_FACE, 10)  # an absence...
    assert not described(send(checked, FACE, 12))  # ...checked no sooner than 15 s after the last check,
    assert described(send(checked, FACE, 16))  # ...but then at once, not at the 600 s cadence
    assert not described(send(checked, FACE, 21))


@pytest.mark.parametrize("events", [
    [(PresenceEvent.CAMERA_PROBLEM, "stopped"), (PresenceEvent.CAMERA_OK, "")],  # a camera problem
    [(PresenceEvent.SOCKET_CLOSED, ""), (PresenceEvent.SOCKET_OPEN, "")],  # a reconnection
])
def test_a_camera_problem_or_a_reconnection_makes_the_next_face_checked(checked, settings, events):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 600,
                        "IDENTITY_RECHECK_SECONDS": 15}
    send(checked, FACE, 0)
    send(checked, FACE, 5)  # connected
    assert not described(send(checked, FACE, 20))
    for seconds, (event, problem) in zip((22, 24), events):
        presence.session_presence_record(session_id=checked.id, event=event, camera_problem=problem,
                                         at=T0 + timedelta(seconds=seconds))
    assert described(send(checked, FACE, 25))
    assert not described(send(checked, FACE, 30))


def test_the_reference_is_deleted_when_the_session_ends(checked):
    send(checked, FACE, 0)
    assert IdentityReference.objects.filter(session=checked).exists()
    services.session_end(session=checked)
    assert not IdentityReference.objects.exists()


def test_erasure_and_the_purge_delete_references(checked, learner, settings):
    send(checked, FACE, 0)
    counts = privacy.learner_data_erase(user=learner)
    assert counts["identity references"] == 1 and not IdentityReference.objects.exists()
    # A session that never ended: its reference goes after IDENTITY_REFERENCE_HOURS unused, whatever the retention.
    other = services.session_create(learner=learner, course_id="c1", exam_id="e3", identity_check=True)
    send(other, FACE, 0)
    call_command("purge_engagement_data")
    assert IdentityReference.objects.count() == 1
    IdentityReference.objects.update(updated_at=T0 - timedelta(hours=25))
    assert identity.identity_references_stale().count() == 1
    call_command("purge_engagement_data")
    assert not IdentityReference.objects.exists() and ExamSession.objects.filter(pk=other.pk).exists()


def test_the_reference_is_never_exported_or_shown(checked, learner):
    send(checked, FACE, 0)
    reference = bytes(IdentityReference.objects.get().descriptors)
    exported = str(privacy.learner_data_export(user=learner))
    assert "identity_reference" not in exported and reference.hex()[:32] not in exported
    assert reference not in str(send(checked, FACE, 5)).encode()


def test_the_lms_turns_it_on_per_session_over_rest(lms_api, learner):
    response = lms_api.post("/api/v1/sessions/", {"learner": learner.username, "course_id": "c1", "exam_id": "e1",
                                                  "identity_check": True}, format="json")
    assert response.status_code == 201, response.content
    session = ExamSession.objects.get(pk=response.json()["id"])
    assert session.identity_check is True
    assert lms_api.get(f"/api/v1/sessions/{session.id}/").json()["identity_check"] is True
    bad = lms_api.post("/api/v1/sessions/", {"learner": learner.username, "course_id": "c1", "exam_id": "e2",
                                             "identity_check": "sometimes"}, format="json")
    assert bad.status_code == 400 and "identity_check" in bad.json()["errors"]


def test_an_engine_that_cannot_compare_faces_refuses_the_check_and_never_claims_it(lms_api, learner, checked,
                                                                                    settings):
    from django.core.exceptions import ImproperlyConfigured

    from lti.forms import LinkSettingsForm

    # The optional DeepFace engine has no face descriptors (imported here, never built).
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ENGINE": "engagement.engines.deepface.DeepFaceEngine"}
    # The LMS asking for the check is told why not, rather than given a session whose check never runs...
    refused = lms_api.post("/api/v1/sessions/", {"learner": learner.username, "course_id": "c1", "exam_id": "e2",
                                                 "identity_check": True}, format="json")
    assert refused.status_code == 400 and "cannot compare faces" in str(refused.json()["errors"]["identity_check"])
    assert lms_api.post("/api/v1/sessions/", {"learner": learner.username, "course_id": "c1", "exam_id": "e3",
                                              "identity_check": False}, format="json").status_code == 201
    # ...as is the instructor choosing an LTI link's settings, and a site default that turns it on stops the start.
    form = LinkSettingsForm(data={"title": "Final", "frame_interval": 5, "identity_check": "on", "alerts": []})
    assert not form.is_valid() and "cannot compare faces" in str(form.errors["identity_check"])
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_CHECK": True}
    with pytest.raises(ImproperlyConfigured, match="MONITOR_IDENTITY_CHECK is on"):
        identity.identity_configuration_check()
    # A session that asked for it earlier is not checked, and its notice does not say that the face is compared.
    assert not identity.identity_checked(session=checked)
    client = Client()
    client.force_login(learner)
    assert "compared with your face" not in client.get(f"/monitor/sessions/{checked.id}/").content.decode()


def test_the_notice_says_so_only_when_the_face_is_compared(checked, exam_session, learner):
    client = Client()
    client.force_login(learner)
    page = client.get(f"/monitor/sessions/{checked.id}/").content.decode()
    assert "compared with your face at the start of this exam" in page
    page = client.get(f"/monitor/sessions/{exam_session.id}/").content.decode()
    assert "identity-notice" not in page


def kinds(outcome):
    return [a["kind"] for a in outcome["analysis"]["alerts"]]


def test_another_person_opens_identity_changed_after_two_checks_and_the_learner_back_closes_it(checked, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 2, "IDENTITY_CHECK_SECONDS": 10,
                        "IDENTITY_MISSES": 2}
    send(checked, FACE, 0)
    send(checked, FACE_MOVED, 5)  # the reference: two frames of the learner
    assert kinds(send(checked, FACE, 10)) == []  # a check that agrees
    first = send(checked, HOPPER, 20)  # someone else, checked on the cadence: one disagreement is no alert yet
    assert described(first) and kinds(first) == [] and state(checked)["distance"] > 0.5
    second = send(checked, HOPPER, 25)  # checked again at once: two in a row
    assert kinds(second) == ["identity_changed"]
    [opened] = [e["alert"] for e in second["events"] if e["event"] == "opened"]
    assert opened["severity"] == "critical" and "start of the exam" in opened["message"]
    assert "identity_changed" in [a["kind"] for a in second["row"]["alerts"]]  # the live view's row
    assert kinds(send(checked, HOPPER, 27)) == ["identity_changed"]  # stays open, one alert
    back = send(checked, FACE, 30)  # the learner again: the next check agrees and closes it
    assert kinds(back) == [] and [e["event"] for e in back["events"]] == ["closed"]
    report = selectors.session_report(session=ExamSession.objects.get(pk=checked.pk))
    assert [a.kind for a in report["alerts"]] == ["identity_changed"]


def test_one_stray_disagreement_opens_nothing(checked, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 10}
    send(checked, FACE, 0)
    assert kinds(send(checked, HOPPER, 10)) == []
    assert kinds(send(checked, FACE, 15)) == [] and kinds(send(checked, HOPPER, 30)) == []
    assert not Alert.objects.exists()


def test_identity_changed_reaches_the_lms_webhook(learner, settings, receiver):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 10}
    lms = get_user_model().objects.create_user("lms", password="x" * 12)
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1", identity_check=True,
                                      tenant=services.tenant_of_account(account=lms))
    target = receiver()
    Webhook.objects.create(owner=lms, url=target.url, secret="s" * 32, events=["alert.opened"])
    for image, seconds in ((FACE, 0), (HOPPER, 10), (HOPPER, 15)):
        send(session, image, seconds)
    assert wait_for(lambda: len(target.requests) == 1)
    body = json.loads(target.requests[0][1])
    assert body["event"] == "alert.opened" and body["data"]["alert"]["kind"] == "identity_changed"
    assert body["data"]["alert"]["severity"] == "critical"
    assert "descriptor" not in target.requests[0][1].decode()


def test_a_room_too_dark_to_check_opens_identity_unchecked_and_light_closes_it(checked, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 10,
                        "IDENTITY_MIN_BRIGHTNESS": 20, "IDENTITY_DARK_SECONDS": 20}
    dark, lit = dimmed(images.webcam_face()), images.data_url(images.webcam_face())
    # Dark from the start: no reference can be taken, and after 20 s the live view and the learner are told.
    assert [kinds(send(checked, dark, s)) for s in (0, 5, 10, 15)] == [[]] * 4
    outcome = send(checked, dark, 20)
    assert kinds(outcome) == ["identity_unchecked"] and "frames" not in state(checked)
    [opened] = [e["alert"] for e in outcome["events"]]
    assert opened["severity"] == "warning" and "too dark" in opened["message"]
    assert opened["since"] == T0.isoformat()  # the live view's timer counts from the first dark frame
    assert "identity_unchecked" in [a["kind"] for a in outcome["row"]["alerts"]]
    # A frame without a face changes nothing; the first lit face is taken for the reference and closes it.
    assert kinds(send(checked, NO_FACE, 25)) == ["identity_unchecked"]
    back = send(checked, lit, 30)
    assert described(back) and kinds(back) == [] and [e["event"] for e in back["events"]] == ["closed"]
    # Later, the check due at 40 s (every 10 s) waits on dark frames: 20 s on, it opens again; a lit check closes it.
    assert [kinds(send(checked, dark, s)) for s in (35, 40, 45, 50, 55, 60)] == [[]] * 5 + [["identity_unchecked"]]
    assert kinds(send(checked, lit, 65)) == [] and state(checked)["checked_at"] == (T0 + timedelta(seconds=65)).isoformat()
    alerts = Alert.objects.filter(session=checked, kind="identity_unchecked").order_by("opened_at")
    assert [(a.since, a.closed_at) for a in alerts] == [
        (T0, T0 + timedelta(seconds=30)), (T0 + timedelta(seconds=40), T0 + timedelta(seconds=65))]


def test_identity_unchecked_is_off_with_the_check_and_can_be_switched_off(learner, settings):
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_DARK_SECONDS": 5}
    dark = dimmed(images.webcam_face())
    unchecked = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    quiet = services.session_create(learner=learner, course_id="c1", exam_id="e2", identity_check=True,
                                    alerts_off=["identity_unchecked"])
    for session in (unchecked, quiet):
        assert [kinds(send(session, dark, s)) for s in (0, 5, 10)] == [[]] * 3
    assert not Alert.objects.exists()


def test_a_face_in_the_dark_is_not_compared_and_the_check_waits_for_light(checked, settings):
    from engagement.engines import get_engine
    from engagement.images import decode_image
    from engagement.services import face_brightness

    settings.MONITOR = {**settings.MONITOR, "IDENTITY_REFERENCE_FRAMES": 1, "IDENTITY_CHECK_SECONDS": 10,
                        "IDENTITY_MISSES": 2, "IDENTITY_MIN_BRIGHTNESS": 20}
    dark_face, dark_other = dimmed(images.webcam_face()), dimmed(images.webcam_hopper())
    for url in (dark_face, dark_other):  # found, but darker than the setting
        rgb = decode_image(base64.b64decode(url.split(",", 1)[1]), max_pixels=10**7)
        face = get_engine().analyze(rgb, age_gender=False).face
        assert face is not None and face_brightness(rgb, face) < 20
    # No reference from a dark frame; the first lit one is.
    outcome = send(checked, dark_face, 0)
    assert outcome["analysis"]["success"] and not described(outcome) and "frames" not in state(checked)
    assert described(send(checked, images.data_url(images.webcam_face()), 5))
    # Checks due in the dark are not made: two of them in a row, even of someone else, open nothing...
    for seconds in (15, 20, 25):
        outcome = send(checked, dark_other, seconds)
        assert outcome["analysis"]["success"] and not described(outcome) and kinds(outcome) == []
    assert state(checked)["checked_at"] == (T0 + timedelta(seconds=5)).isoformat()
    # ...and the first lit frame is checked at once.
    lit = send(checked, HOPPER, 30)
    assert described(lit) and state(checked)["distance"] > 0.5
    # The setting at 0 compares every face, dark ones too.
    settings.MONITOR = {**settings.MONITOR, "IDENTITY_MIN_BRIGHTNESS": 0}
    assert described(send(checked, dark_other, 31)) and kinds(send(checked, dark_other, 32)) == ["identity_changed"]
