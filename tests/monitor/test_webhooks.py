"""Webhook deliveries to a real local HTTP server: signature, retries, timeouts, never in the frame's path."""
import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.utils.timezone import now as django_now

from engagement import services as engagement_services
from monitor import services, webhooks
from monitor.models import DeliveryStatus, Webhook, WebhookDelivery
from tests import images

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "a-long-shared-secret-for-tests"
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
FACE = images.encode(images.webcam_face())
EMPTY = images.encode(images.no_face_images()["coffee"])


class Receiver:
    """A local HTTP endpoint that records requests and answers from a script of (status, delay) pairs."""

    def __init__(self, script=()):
        self.script = list(script)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                status, delay = receiver.script.pop(0) if receiver.script else (200, 0)
                time.sleep(delay)
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"boom")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(script=()):
        made.append(Receiver(script))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def fast_retries(settings):
    # proctoring/settings_test.py sets these through the environment, so that Celery workers share them.
    assert (settings.WEBHOOKS["RETRY_BASE_SECONDS"], settings.WEBHOOKS["TIMEOUT_SECONDS"],
            settings.WEBHOOKS["MAX_ATTEMPTS"]) == (0.2, 1, 3)
    settings.MONITOR = {**settings.MONITOR, "ABSENT_SECONDS": 5}  # the rules run in this process here


@pytest.fixture
def session():
    User = get_user_model()
    lms = User.objects.create_user("lms", password="x" * 12)
    learner = User.objects.create_user("lea", password="x" * 12)
    return lms, services.session_create(learner=learner, course_id="c1", exam_id="e1",
                                        tenant=services.tenant_of_account(account=lms))


def hook(owner, url, events=("alert.opened", "alert.closed", "session.ended")):
    return Webhook.objects.create(owner=owner, url=url, secret=SECRET, events=list(events))


def frame(session, image, seconds):
    result = engagement_services.frame_analyze(frame=engagement_services.Frame(
        image=image, timestamp=(T0 + timedelta(seconds=seconds)).isoformat()))
    return services.session_frame_record(session_id=session.id, user=session.learner, result=result)


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def verify(headers, body):
    expected = hmac.new(SECRET.encode(), headers["X-Engagement-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Engagement-Signature"], f"sha256={expected}")


def test_alert_and_session_events_are_signed_and_delivered(session, receiver):
    lms, exam = session
    target = receiver()
    hook(lms, target.url)
    frame(exam, FACE, 0)
    frame(exam, EMPTY, 5)
    frame(exam, EMPTY, 10)  # absent opens
    frame(exam, FACE, 15)  # absent closes
    services.session_end(session=exam)
    assert wait_for(lambda: len(target.requests) == 3)
    events = [json.loads(body)["event"] for _, body in target.requests]
    assert sorted(events) == ["alert.closed", "alert.opened", "session.ended"]
    for headers, body in target.requests:
        assert verify(headers, body)
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Engagement-Event"] == json.loads(body)["event"]
    ended = next(json.loads(b) for _, b in target.requests if json.loads(b)["event"] == "session.ended")
    assert ended["data"]["session"]["id"] == str(exam.id) and ended["data"]["summary"]["frames"] == 4
    opened = next(json.loads(b) for _, b in target.requests if json.loads(b)["event"] == "alert.opened")
    assert opened["data"]["alert"]["kind"] == "absent" and opened["data"]["session"]["learner"] == "lea"
    assert wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 3)
    # A tampered body does not verify.
    headers, body = target.requests[0]
    assert not verify(headers, body.replace(b"lea", b"eve"))


def test_a_500_is_retried_with_backoff_and_recorded(session, receiver):
    lms, exam = session
    target = receiver([(500, 0), (200, 0)])
    hook(lms, target.url, ["session.ended"])
    services.session_end(session=exam)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 2 and delivery.response_status == 200 and delivery.last_error == ""
    assert len(target.requests) == 2
    first, second = (json.loads(body) for _, body in target.requests)
    assert first == second  # the same event, redelivered


def test_a_timeout_is_retried_then_given_up_and_recorded(session, receiver):
    lms, exam = session
    target = receiver([(200, 3), (200, 3), (200, 3)])  # always slower than the 1 s timeout
    hook(lms, target.url, ["session.ended"])
    services.session_end(session=exam)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists(), timeout=30)
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 3 and "Timeout" in delivery.last_error and delivery.delivered_at is None


def test_unreachable_target_is_recorded(session):
    lms, exam = session
    hook(lms, "http://127.0.0.1:9/hook", ["session.ended"])  # nothing listens on the discard port
    services.session_end(session=exam)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists(), timeout=30)
    assert "ConnectionError" in WebhookDelivery.objects.get().last_error


def test_delivery_never_blocks_the_frame(session, receiver):
    lms, exam = session
    target = receiver([(200, 3)])
    hook(lms, target.url, ["alert.opened"])
    frame(exam, EMPTY, 0)
    record = frame(exam, EMPTY, 6)  # opens "absent": its delivery waits on a slow target...
    assert [a.kind for a in record.opened] == ["absent"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 0  # ...but the frame was recorded before any answer came back
    assert wait_for(lambda: WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED)


def test_inactive_and_unsubscribed_webhooks_get_nothing(session, receiver):
    lms, exam = session
    target = receiver()
    hook(lms, target.url, ["alert.opened"])  # not subscribed to session.ended
    inactive = hook(lms, target.url)
    inactive.active = False
    inactive.save()
    services.session_end(session=exam)
    assert WebhookDelivery.objects.count() == 0


def test_signature_format():
    assert webhooks.signature_compute(secret="k", timestamp="1", body=b"{}") == (
        "sha256=" + hmac.new(b"k", b"1.{}", hashlib.sha256).hexdigest())


def test_deliveries_are_visible_in_the_admin(session, receiver, client):
    lms, exam = session
    target = receiver([(500, 0), (200, 0)])
    hook(lms, target.url, ["session.ended"])
    services.session_end(session=exam)
    assert wait_for(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
    get_user_model().objects.create_superuser("root", password="root-password")
    client.login(username="root", password="root-password")
    page = client.get("/admin/monitor/webhookdelivery/").content.decode()
    assert "session.ended" in page and "delivered" in page
    delivery = WebhookDelivery.objects.get()
    detail = client.get(f"/admin/monitor/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert ">2<" in detail  # two attempts


# -- SSRF: webhooks reach public hosts only (or hosts an operator names) -----------------------------------------

@pytest.fixture
def lms_api(django_user_model):
    from django.contrib.auth.models import Permission
    from tests.tokens import token_for
    from rest_framework.test import APIClient

    account = django_user_model.objects.create_user("lms-hooks", password="x")
    account.user_permissions.add(Permission.objects.get(codename="add_examsession"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(account)}")
    return client


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/hook", "http://localhost/hook", "http://0.0.0.0/hook", "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://10.1.2.3/hook", "http://192.168.0.10/hook",
    "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/hook", "http://[fe80::1]/hook",
    "http://2130706433/hook", "http://user:pass@example.com/hook", "ftp://example.com/hook",
    "http://no-such-host.invalid/hook",
])
def test_webhooks_to_internal_or_odd_urls_are_refused(lms_api, settings, url):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_INTERNAL_HOSTS": []}
    response = lms_api.post("/api/v1/webhooks/", {"url": url, "secret": SECRET, "events": ["alert.opened"]},
                            format="json")
    assert response.status_code == 400, response.content
    assert response.json()["success"] is False and "url" in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_named_internal_host_is_allowed(lms_api, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_INTERNAL_HOSTS": ["127.0.0.1"]}
    response = lms_api.post("/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "secret": SECRET,
                                                  "events": ["alert.opened"]}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.embedded_only  # the delivery runs in this process here
def test_each_send_checks_the_address_again_and_no_answer_body_is_kept(receiver, settings):
    endpoint = receiver([(500, 0)])
    owner = get_user_model().objects.create_user("owner")
    hook = Webhook.objects.create(owner=owner, url=endpoint.url, secret=SECRET, events=["alert.opened"])
    delivery = WebhookDelivery.objects.create(webhook=hook, event="alert.opened", payload={"x": 1},
                                              next_attempt_at=django_now())
    first = webhooks.delivery_attempt(delivery=delivery)
    assert first.response_status == 500 and first.last_error == "HTTP 500"  # "boom" is never stored
    # The host no longer counts as allowed (as if its DNS now pointed inside): the next send is refused unsent.
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_INTERNAL_HOSTS": []}
    second = webhooks.delivery_attempt(delivery=first)
    assert second.response_status is None and "not a public address" in second.last_error
    assert len(endpoint.requests) == 1


@pytest.mark.parametrize("host", ["[64:ff9b::7f00:1]", "[64:ff9b::a00:1]", "[::7f00:1]", "[::a9fe:a9fe]",
                                  "[::ffff:0:7f00:1]", "[64:ff9b:1::808:808]", "[fec0::1]"])
def test_nat64_and_ipv4_compatible_forms_of_internal_addresses_are_refused(host):
    """Low 7: 64:ff9b::/96, ::a.b.c.d and the SIIT ::ffff:0:a.b.c.d carry an IPv4 address; that one is checked.
    A site's own NAT64 prefix (64:ff9b:1::/48) and site-local fec0::/10 are never public."""
    with pytest.raises(webhooks.UnsafeWebhookUrl, match="not a public address"):
        webhooks.webhook_url_check(url=f"http://{host}/hook")
    assert webhooks.webhook_url_check(url="http://[64:ff9b::808:808]/hook") == "64:ff9b::808:808"  # 8.8.8.8


def test_the_connection_goes_to_the_address_checked_not_to_a_second_answer(session, receiver, settings, monkeypatch):
    """Low 7 (DNS rebinding): the host answers a public address when checked, then the receiver's loopback one."""
    import socket

    settings.WEBHOOKS = {**settings.WEBHOOKS, "BACKGROUND": False, "TIMEOUT_SECONDS": 1}
    target = receiver()
    port = target.server.server_address[1]
    real, answers = socket.getaddrinfo, iter(["93.184.215.14"])

    def rebinding(host, *args, **kwargs):  # the attacker's DNS (outside the project), with a TTL of zero
        if host != "rebind.example":
            return real(host, *args, **kwargs)
        return real(next(answers, "127.0.0.1"), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    lms, exam = session
    hook(lms, f"http://rebind.example:{port}/hook", ["session.ended"])
    services.session_end(session=exam)
    delivery = webhooks.delivery_attempt(delivery=WebhookDelivery.objects.get())
    assert target.requests == [] and delivery.status != DeliveryStatus.DELIVERED and delivery.last_error
