"""One set of words for a session's state on every page and in the API's docs; the API's values stay as they were."""
import json
import re
from html import unescape
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from monitor import services
from monitor.choices import SessionStatus

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
WORDS = {"scheduled": "Not started", "active": "In progress", "ended": "Ended"}
# The words used before for the same states: none may come back on a page a person reads.
OLD_WORDS = re.compile(r"\b(Running|Scheduled|Active)\b")


@pytest.fixture
def sessions():
    """One session in each state, in one course."""
    learner = get_user_model().objects.create_user("lea", password="lea-password")
    made = {}
    for status in SessionStatus:
        session = services.session_create(learner=learner, course_id="c1", exam_id=f"exam-{status}")
        if status != SessionStatus.SCHEDULED:
            session.status, session.started_at = status, timezone.now()
            session.save(update_fields=["status", "started_at"])
        made[str(status)] = session
    return made


@pytest.fixture
def admin_client(client):
    """A client logged in as a superuser."""
    client.force_login(get_user_model().objects.create_superuser("ines", password="ines-password"))
    return client


def test_the_words_are_the_enums_labels_and_the_values_are_unchanged():
    assert dict(SessionStatus.choices) == WORDS


def test_live_view_admin_list_and_report_read_the_same_words(admin_client, sessions):
    live = admin_client.get("/monitor/live/").content.decode()
    labels = json.loads(re.search(r'id="live-labels"[^>]*>(.*?)</script>', live, re.S).group(1))
    assert labels["session"] == WORDS

    listing = admin_client.get("/admin/monitor/examsession/").content.decode()
    filters = re.search(r'id="changelist-filter".*?</nav>', listing, re.S).group(0)
    for value, word in WORDS.items():
        assert f"?status__exact={value}" in filters and f">{word}</a>" in filters
    rows = {cell for cell in re.findall(r'<td class="field-status">(.*?)</td>', listing)}
    assert rows == set(WORDS.values())

    for value, word in WORDS.items():
        report = admin_client.get(f"/admin/monitor/examsession/{sessions[value].id}/change/").content.decode()
        assert f"<dt>Status</dt><dd>{word}</dd>" in report
        assert not OLD_WORDS.search(re.search(r'id="session-report".*?</section>', report, re.S).group(0))


def test_the_api_docs_name_each_value_with_its_word(client):
    schema = client.get("/api/schema/?format=json").json()
    enum = schema["components"]["schemas"]["SessionStatusEnum"]
    assert enum["enum"] == list(WORDS)
    for value, word in WORDS.items():
        assert f"`{value}` - {word}" in enum["description"]


def test_the_api_answers_the_values_not_the_words(sessions):
    from rest_framework.test import APIClient

    from tests.tokens import token_for

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(sessions['active'].learner)}")
    answer = api.get(f"/api/v1/sessions/{sessions['active'].id}/")
    assert answer.status_code == 200 and answer.json()["status"] == "active"


def test_no_page_or_script_keeps_the_old_words_for_a_session_state():
    # The pages people read: templates and scripts of every app and of the project.
    sources = [path for folder in ("templates", "monitor", "lti", "engagement", "static")
               for path in (ROOT / folder).rglob("*") if path.suffix in (".html", ".js") and ".min." not in path.name]
    assert sources
    found = {}
    for path in sources:
        text = unescape(path.read_text())
        for match in re.finditer(r"\b(running|scheduled)\b", text, re.IGNORECASE):
            found.setdefault(match.group(1), []).append(str(path.relative_to(ROOT)))
    # The state's words come from the enum's labels; a sentence that names a state uses the same words.
    assert found == {}, found
