"""Deep Linking 2.0: an instructor adds a proctored exam from the LMS's content picker, sets it up in the tool, the
platform gets a signed LtiResourceLink with those settings as custom parameters, and every launch of it uses them."""
import html
import re

import pytest
import requests
from django.contrib.auth import get_user_model

from lti import services
from monitor.models import AlertKind, ExamSession
from tests.lti.conftest import spec_launch
from tests.lti.spec_platform import AP, DL_SETTINGS, LTI, MEMBERSHIP

pytestmark = pytest.mark.django_db(transaction=True)
User = get_user_model()
MOODLE_TEACHER = [MEMBERSHIP + "Instructor"]
MOODLE_LEARNER = [MEMBERSHIP + "Learner"]


def deep_linking_request(platform, **settings):
    return {DL_SETTINGS: {"deep_link_return_url": f"{platform.url}/deep-link-return",
                          "accept_types": ["ltiResourceLink"], "accept_presentation_document_targets": ["iframe", "window"],
                          "accept_multiple": False, "data": "csrftoken:c7fbba78-7b75-46e3-9201-11e6d5f36f53", **settings},
            LTI + "resource_link": None}


def form_of(answer):
    return html.unescape(re.search(r'name="token" value="([^"]+)"', answer.text).group(1))


def test_moodle_instructor_adds_a_proctored_exam_whose_settings_apply_to_its_launches(moodle, live_server):
    picker = spec_launch(moodle, sub="2", roles=MOODLE_TEACHER, context_id="2", message_type="LtiDeepLinkingRequest",
                         extra=deep_linking_request(moodle), headers={"Sec-Fetch-Dest": "iframe"})
    assert picker.status == 200 and "Add a proctored exam" in picker.text, picker.text[-800:]
    assert "frame-ancestors *" in picker.response.headers["Content-Security-Policy"]  # Moodle shows it in a frame
    assert not ExamSession.objects.exists() and not User.objects.exists()
    token = form_of(picker)
    # A frame of the LMS: no cookie of the tool is needed to send the form.
    sent = requests.post(f"{live_server.url}/lti/deep-link/", timeout=30, data={
        "token": token, "title": "Final exam (proctored)", "frame_interval": "10", "identity_check": "on",
        "alerts": AlertKind.values})  # every alert ticked, as the form comes
    assert sent.status_code == 200, sent.text[-800:]
    action = html.unescape(re.search(r'id="start-assessment" method="post" action="([^"]+)"', sent.text).group(1))
    jwt_value = html.unescape(re.search(r'name="JWT" value="([^"]+)"', sent.text).group(1))
    assert action == f"{moodle.url}/deep-link-return"
    assert requests.post(action, data={"JWT": jwt_value}, timeout=30).status_code == 200
    [response] = moodle.deep_links
    assert response["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == \
        "csrftoken:c7fbba78-7b75-46e3-9201-11e6d5f36f53"
    [item] = response["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert item["type"] == "ltiResourceLink" and item["title"] == "Final exam (proctored)"
    assert item["url"] == f"{live_server.url}/lti/launch/"
    assert item["custom"] == {"proctoring_frame_interval": "10", "proctoring_identity_check": "true",
                              "proctoring_evidence": "false"}
    # The form works once.
    again = requests.post(f"{live_server.url}/lti/deep-link/", timeout=30, data={
        "token": token, "title": "x", "frame_interval": "5"})
    assert again.status_code == 403 and "already sent" in again.text
    # Launches of that link carry the custom parameters: a learner's session takes them.
    learner = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="7",
                          extra={LTI + "custom": item["custom"]})
    session = ExamSession.objects.get()
    assert learner.status == 200 and (session.frame_interval, session.identity_check, session.evidence) == \
        (10.0, True, False)
    proctored = spec_launch(moodle, sub="6", roles=MOODLE_LEARNER, context_id="2", resource_link_id="7",
                            message_type="LtiStartProctoring",
                            extra={LTI + "custom": item["custom"], AP + "attempt_number": 1,
                                   AP + "start_assessment_url": f"{moodle.url}/start-assessment"})
    assert proctored.status == 200
    assert ExamSession.objects.get(learner__lti_users__sub="6").frame_interval == 10.0


def test_moodle_link_settings_out_of_range_are_asked_again(moodle, live_server):
    picker = spec_launch(moodle, sub="2", roles=MOODLE_TEACHER, context_id="2", message_type="LtiDeepLinkingRequest",
                         extra=deep_linking_request(moodle))
    sent = requests.post(f"{live_server.url}/lti/deep-link/", timeout=30,
                         data={"token": form_of(picker), "title": "Exam", "frame_interval": "0.01"})
    assert sent.status_code == 400 and "greater than or equal to 1" in sent.text and moodle.deep_links == []


@pytest.mark.parametrize("custom", [{"proctoring_frame_interval": "0"}, {"proctoring_frame_interval": "fast"},
                                    {"proctoring_identity_check": "maybe"}, "not an object"])
def test_canvas_unreadable_link_settings_fall_back_to_the_defaults(canvas, custom, settings):
    from tests.lti.spec_platform import REMOVE

    answer = spec_launch(canvas, sub="s-1", roles=[MEMBERSHIP + "Learner"], extra={LTI + "custom": custom},
                         login={"lti_storage_target": REMOVE})
    session = ExamSession.objects.get()
    assert answer.status == 200 and session.frame_interval == settings.MONITOR["FRAME_INTERVAL"]
    assert session.identity_check is None


@pytest.mark.parametrize("case, pending, status, reason", [
    ("a learner", {"roles": MOODLE_LEARNER}, 403, "for its instructors only"),
    ("content the tool does not make", {"settings": {"accept_types": ["file", "html"]}}, 400,
     "Must support resource link placement types"),
])
def test_moodle_deep_linking_requests_the_tool_cannot_answer_are_refused(moodle, case, pending, status, reason):
    answer = spec_launch(moodle, sub="3", roles=pending.get("roles", MOODLE_TEACHER), context_id="2",
                         message_type="LtiDeepLinkingRequest",
                         extra=deep_linking_request(moodle, **pending.get("settings", {})))
    assert answer.status == status and reason in answer.text, (case, answer.text[-600:])
    assert not User.objects.exists()


def test_a_forged_settings_form_is_refused(moodle, live_server):
    answer = requests.post(f"{live_server.url}/lti/deep-link/", timeout=30,
                           data={"token": "forged", "title": "Exam", "frame_interval": "5"})
    assert answer.status_code == 403 and "not valid" in answer.text and moodle.deep_links == []


def link_made(platform, live_server, **fields):
    """The custom parameters of a link an instructor of `platform` set up on the tool's page with `fields`."""
    picker = spec_launch(platform, sub="2", roles=MOODLE_TEACHER, context_id="2", message_type="LtiDeepLinkingRequest",
                         extra=deep_linking_request(platform))
    assert 'name="alerts"' in picker.text and 'name="notice_text"' in picker.text
    sent = requests.post(f"{live_server.url}/lti/deep-link/", timeout=30,
                         data={"token": form_of(picker), "title": "Exam", "frame_interval": "5", **fields})
    if sent.status_code != 200:
        return sent
    jwt_value = html.unescape(re.search(r'name="JWT" value="([^"]+)"', sent.text).group(1))
    assert requests.post(f"{platform.url}/deep-link-return", data={"JWT": jwt_value}, timeout=30).status_code == 200
    [response] = platform.deep_links
    [item] = response["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    return item["custom"]


NOTICE = "Your figures are kept until the appeal period ends (6 weeks), then deleted.\nQuestions: exams@uni.example"


def test_moodle_link_switches_alerts_off_and_sets_the_notice_for_every_launch(moodle, live_server):
    from tests.monitor.test_admin import SCENARIO, record

    on = [kind for kind in AlertKind.values if kind not in ("multiple_faces", "looking_away")]
    custom = link_made(moodle, live_server, alerts=on, notice_text=NOTICE)
    # The kinds switched off are sealed (the id_token passes through the learner's browser); the notice's line
    # break is written so that Moodle's name=value lines keep it.
    assert "multiple_faces" not in custom["proctoring_alerts_off"] and "looking" not in custom["proctoring_alerts_off"]
    assert custom["proctoring_notice_text"] == NOTICE.replace("\n", "\\n") and "\n" not in custom["proctoring_notice_text"]
    # A learner's launch of that link: the session has them, and the notice before the camera shows the words.
    launched = spec_launch(moodle, sub="5", roles=MOODLE_LEARNER, context_id="2", resource_link_id="7",
                           extra={LTI + "custom": custom})
    session = ExamSession.objects.get()
    assert launched.status == 200 and session.alerts_off == ["multiple_faces", "looking_away"]
    assert 'id="notice-course">Your figures are kept until the appeal period ends (6 weeks), then deleted.<br>' \
           'Questions: exams@uni.example</blockquote>' in launched.text
    # Two faces in view, then nobody: the kind switched off raises nothing, the others still do.
    record(session, SCENARIO)
    assert list(session.alerts.values_list("kind", flat=True)) == ["absent"]
    # The proctoring check of an Open edX-style start of the same link shows the same words.
    proctored = spec_launch(moodle, sub="6", roles=MOODLE_LEARNER, context_id="2", resource_link_id="7",
                            message_type="LtiStartProctoring",
                            extra={LTI + "custom": custom, AP + "attempt_number": 1,
                                   AP + "start_assessment_url": f"{moodle.url}/start-assessment"})
    assert proctored.status == 200 and 'id="notice-course">Your figures are kept' in proctored.text
    assert ExamSession.objects.get(learner__lti_users__sub="6").alerts_off == ["multiple_faces", "looking_away"]


@pytest.mark.parametrize("fields, reason", [
    ({"alerts": ["absent", "sleeping"]}, "Select a valid choice. sleeping is not one of the available choices."),
    ({"notice_text": "x" * 2001}, "Ensure this value has at most 2000 characters (it has 2001)."),
])
def test_moodle_bad_link_settings_are_asked_again(moodle, live_server, fields, reason):
    sent = link_made(moodle, live_server, **fields)
    assert sent.status_code == 400 and reason in html.unescape(sent.text), sent.text[-800:]
    assert moodle.deep_links == []


def sealed(*kinds):
    """The custom parameter of a link that switches `kinds` off, as this tool makes it."""
    return services.link_custom_parameters(frame_interval=5, identity_check=False, evidence=False,
                                           alerts_off=list(kinds))["proctoring_alerts_off"]


@pytest.mark.parametrize("custom, reason", [
    ({"proctoring_alerts_off": lambda: sealed("absent", "sleeping")}, "names an unknown alert kind ('sleeping')"),
    ({"proctoring_alerts_off": lambda: "absent"}, "proctoring_alerts_off cannot be read: this tool did not make it"),
    ({"proctoring_alerts_off": lambda: ["absent"]}, "cannot be read"),
    ({"proctoring_notice_text": lambda: "x" * 2001}, "is not a text of at most 2000 characters"),
])
@pytest.mark.parametrize("message_type", ["LtiResourceLinkRequest", "LtiStartProctoring"])
def test_openedx_link_with_unusable_settings_is_refused_and_nothing_created(openedx, custom, reason, message_type):
    custom = {name: make() for name, make in custom.items()}
    extra = {LTI + "custom": custom, AP + "attempt_number": 1, AP + "start_assessment_url": f"{openedx.url}/start"}
    answer = spec_launch(openedx, sub="9", roles=[], message_type=message_type, extra=extra)
    assert answer.status == 400 and reason in html.unescape(answer.text), answer.text[-600:]
    assert not ExamSession.objects.exists() and not User.objects.exists()
