"""The learner's monitoring notice lists what is inferred and kept, generated from the settings in force."""
import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from engagement import services as engagement_services
from monitor import selectors, services
from tests import images

pytestmark = pytest.mark.django_db
# Each stored inference of an exam frame (an EngagementLog column) and the words the notice names it with.
STORED = {"face_count": "number of faces", "head_yaw": "head turn", "head_pitch": "tilt",
          "emotions": "emotion shares", "engagement_score": "engagement score", "engagement_status": "status",
          "age": "age and gender estimates", "gender": "age and gender estimates"}


def notice_of(client, settings, **monitor):
    settings.MONITOR = {**settings.MONITOR, **monitor}
    lea = get_user_model().objects.create_user("lea", password="x" * 12)
    session = services.session_create(learner=lea, course_id="c1", exam_id="e1", frame_interval=2)
    client.force_login(lea)
    page = client.get(reverse("monitor:exam", args=[session.id])).content.decode()
    return session, page[page.index('id="notice"'):page.index('id="start"')]


@pytest.mark.parametrize("age_gender", [False, True])
def test_the_notice_names_every_figure_a_frame_keeps_and_no_other(client, settings, age_gender):
    settings.RETENTION_DAYS = 30
    session, notice = notice_of(client, settings, AGE_GENDER=age_gender)
    kept = notice[notice.index('id="notice-kept"'):]
    # What an exam frame really stores with these settings: a face analysed through the exam path.
    result = engagement_services.frame_analyze(frame=engagement_services.Frame(
        image=images.data_url(images.webcam_face()), timestamp="2026-11-26T09:00:00Z"),
        age_gender=selectors.exam_age_gender_inferred())
    record = services.session_frame_record(session_id=session.id, user=session.learner, result=result)
    from engagement.models import EngagementLog

    log = EngagementLog.objects.get(pk=record.log_id)
    for field, words in STORED.items():
        stored = getattr(log, field) not in (None, "")
        assert (words in kept) is stored, (field, stored)
    assert "for 30 days" in notice and "Every 2 s" in notice and "No picture is stored" in notice


@pytest.mark.parametrize("shown, words", [(False, "whether the camera sees you"),
                                          (True, "your own engagement status and scores")])
def test_the_notice_says_what_the_learner_sees(client, settings, shown, words):
    _, notice = notice_of(client, settings, SHOW_LEARNER_ANALYSIS=shown)
    assert f"You see {words}" in notice
