"""Signed webhooks: record events as deliveries, then POST them with retries and backoff, off the request path."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters
import urllib3
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone

from engagement.api import offloaded, task_send

from .models import DeliveryStatus, Webhook, WebhookDelivery
from .conf import webhook_settings

logger = logging.getLogger(__name__)
USER_AGENT = "engagement-webhooks/1"


def signature_compute(*, secret: str, timestamp: str, body: bytes) -> str:
    """The X-Engagement-Signature value: sha256=<hex HMAC-SHA256 of secret over "<timestamp>.<body>">."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def event_emit(*, event: str, data: dict, session: Any) -> list[WebhookDelivery]:
    """Queue a session's event for the active webhooks subscribed to it of the session's tenant (its LMS account)
    and of superusers; delivery starts after the commit."""
    # An LTI platform's sessions (and those an administrator made) reach no LMS account's endpoint.
    owners = Q(owner__is_superuser=True)
    if session.tenant_id is not None:
        owners |= Q(owner__tenant__pk=session.tenant_id)
    hooks = [h for h in Webhook.objects.filter(owners, active=True) if event in h.events]
    if not hooks:
        return []
    now = timezone.now()
    payload = json.loads(json.dumps({"event": event, "created_at": now, "data": data}, cls=DjangoJSONEncoder))
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(webhook=h, event=event, payload=payload, next_attempt_at=now) for h in hooks])
    if offloaded():
        for delivery in deliveries:
            transaction.on_commit(lambda pk=delivery.pk: task_send("monitor.tasks.webhook_deliver", delivery_id=pk))
    else:
        transaction.on_commit(dispatcher_wake)
    return deliveries


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=webhook_settings["RETRY_BASE_SECONDS"] * 2 ** (attempts - 1))


class UnsafeUrl(ValueError):
    """An outgoing URL that could reach the server's own network (SSRF): refused before anything is sent."""


UnsafeWebhookUrl = UnsafeUrl  # a webhook URL refused at save and at each send


NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the well-known prefix, an IPv4 address in its last 32 bits
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291's deprecated ::a.b.c.d
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765's SIIT ::ffff:0:a.b.c.d
# Never public, though Python's is_global says so: RFC 8215's local-use translation prefix (a site's own NAT64 with
# any embedding) and the deprecated site-local fec0::/10 (RFC 3879), both routed inside a site only.
LOCAL_ONLY = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("fec0::/10"))


def _embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 form carries (mapped, translated, 6to4, NAT64, IPv4-compatible), else the address
    itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    compatible = address in IPV4_COMPATIBLE and int(address) > 1  # not :: nor ::1
    if compatible or address in NAT64 or address in IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def public_url_check(*, url: str, internal_hosts: list[str], schemes: tuple[str, ...] = ("http", "https"),
                     what: str = "webhook", setting: str = "WEBHOOK_ALLOWED_INTERNAL_HOSTS") -> str:
    """Refuse credentials, other schemes than `schemes` and hosts that resolve to non-public addresses; answer the
    address checked, which a caller may connect to (DNS cannot answer otherwise in between: rebinding).

    Loopback, private, link-local, unique-local, site-local, local-use NAT64, multicast, reserved, unspecified and
    the IPv4-mapped, translated, 6to4, NAT64 and IPv4-compatible forms of them are refused unless the host is named
    in `internal_hosts`.
    """
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise UnsafeUrl(f"The {what} URL must be a {' or '.join(s + '://' for s in schemes)} URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl(f"The {what} URL must not carry credentials.")
    host = parts.hostname.lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError) as exc:
        raise UnsafeUrl(f"The {what} host {host!r} cannot be resolved.") from exc
    addresses = [info[4][0].split("%", 1)[0] for info in infos]
    if host in internal_hosts:
        return addresses[0]
    for text in addresses:
        address = _embedded_ipv4(ipaddress.ip_address(text))
        if not address.is_global or address.is_multicast or any(address in net for net in LOCAL_ONLY):
            raise UnsafeUrl(f"The {what} host {host!r} resolves to {address}, which is not a public address "
                            f"(set {setting} to allow a named internal host).")
    return addresses[0]


def webhook_url_check(*, url: str) -> str:
    """A webhook URL's address, checked by `public_url_check` (internal hosts: WEBHOOKS["ALLOWED_INTERNAL_HOSTS"]);
    the delivery connects to the address answered."""
    return public_url_check(url=url, internal_hosts=webhook_settings["ALLOWED_INTERNAL_HOSTS"])


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


class PinnedAdapter(requests.adapters.HTTPAdapter):
    """A requests transport that connects a checked URL's host to the address its check answered (`pin`).

    DNS is not asked again between the check and the connection, so a rebinding answer cannot turn the request to
    an internal address. The URL's host name stays the Host header, the TLS server name and the name the
    certificate is checked against. Hosts never pinned connect as requests always does.
    """

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self._pools: dict[tuple[str, str, int], urllib3.HTTPConnectionPool] = {}

    def pin(self, *, url: str, address: str) -> None:
        """Connect `url`'s scheme, host and port to `address` (public_url_check's answer) from now on."""
        scheme, host, port = key = _origin(url)
        pool = self._pools.get(key)
        if pool is not None and pool.host == address:
            return
        if pool is not None:
            pool.close()
        if scheme == "https":
            self._pools[key] = urllib3.HTTPSConnectionPool(
                address, port, cert_reqs="CERT_REQUIRED", ca_certs=requests.certs.where(), server_hostname=host,
                assert_hostname=host)
        else:
            self._pools[key] = urllib3.HTTPConnectionPool(address, port)

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        """The pinned pool of the request's URL (never through a proxy, which would resolve the host again)."""
        pool = self._pools.get(_origin(request.url))
        if pool is None:
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        return pool

    def request_url(self, request, proxies):
        """A pinned request's path and query (origin form), as to a server reached directly."""
        if _origin(request.url) in self._pools:
            return request.path_url
        return super().request_url(request, proxies)

    def add_headers(self, request, **kwargs):
        """A pinned request names the URL's host (and port when given) in its Host header: the connection is to an
        address."""
        if _origin(request.url) in self._pools:
            parts = urlsplit(request.url)
            host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
            request.headers["Host"] = host if parts.port is None else f"{host}:{parts.port}"

    def close(self) -> None:
        """Close the pinned pools too."""
        super().close()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def pinned_session(*, session: requests.Session | None = None) -> tuple[requests.Session, PinnedAdapter]:
    """`session` (a new one by default) sending every http(s) request through one PinnedAdapter: pin each URL's
    checked address on the adapter before requesting it."""
    session = session or requests.Session()
    adapter = PinnedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session, adapter


def _post_pinned(*, url: str, address: str, body: bytes, headers: dict) -> int:
    """POST to `url` over a connection to `address` (the one checked), no redirects; the answer's status (its
    body is never read)."""
    session, adapter = pinned_session()
    session.trust_env = False  # no proxy and no CA bundle from the environment: the delivery goes as checked
    adapter.pin(url=url, address=address)
    with session:
        response = session.post(url, data=body, headers=headers, allow_redirects=False, stream=True,
                                timeout=webhook_settings["TIMEOUT_SECONDS"])
        response.close()
        return response.status_code


def delivery_attempt(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """POST one delivery once and record the outcome; schedules a retry or gives up after MAX_ATTEMPTS."""
    body = json.dumps({**delivery.payload, "delivery_id": delivery.pk}, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Engagement-Event": delivery.event,
        "X-Engagement-Delivery": str(delivery.pk),
        "X-Engagement-Timestamp": timestamp,
        "X-Engagement-Signature": signature_compute(secret=delivery.webhook.secret, timestamp=timestamp, body=body),
    }
    delivery.attempts += 1
    try:
        # Again at each send: the host's DNS may point somewhere else since the webhook was saved; the connection
        # then goes to the very address checked.
        address = webhook_url_check(url=delivery.webhook.url)
        status = _post_pinned(url=delivery.webhook.url, address=address, body=body, headers=headers)
        delivery.response_status = status
        ok = 200 <= status < 300
        delivery.last_error = "" if ok else f"HTTP {status}"
    except UnsafeWebhookUrl as exc:
        ok = False
        delivery.response_status = None
        delivery.last_error = str(exc)[:1000]
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
        ok = False
        delivery.response_status = None
        delivery.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    now = timezone.now()
    if ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, now
    elif delivery.attempts >= webhook_settings["MAX_ATTEMPTS"]:
        delivery.status = DeliveryStatus.FAILED
        logger.warning("webhook delivery %s failed for good: %s", delivery.pk, delivery.last_error)
    else:
        delivery.next_attempt_at = now + _backoff(delivery.attempts)
    delivery.save(update_fields=["attempts", "response_status", "last_error", "status", "delivered_at",
                                 "next_attempt_at"])
    return delivery


def delivery_attempt_by_id(*, delivery_id: int) -> WebhookDelivery | None:
    """Attempt a pending delivery by id (a Celery task's entry point); None when it is gone or done."""
    close_old_connections()
    delivery = WebhookDelivery.objects.select_related("webhook").filter(
        pk=delivery_id, status=DeliveryStatus.PENDING).first()
    return None if delivery is None else delivery_attempt(delivery=delivery)


def deliveries_dispatch_due(*, limit: int = 50) -> int:
    """Attempt the deliveries that are due now; returns how many were attempted."""
    due = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
               .select_related("webhook").order_by("next_attempt_at")[:limit])
    for delivery in due:
        delivery_attempt(delivery=delivery)
    return len(due)


def _next_due_in() -> float | None:
    nxt = (WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).order_by("next_attempt_at")
           .values_list("next_attempt_at", flat=True).first())
    return None if nxt is None else max(0.0, (nxt - timezone.now()).total_seconds())


class _Dispatcher(threading.Thread):
    """One daemon thread per process that delivers due webhooks, sleeping until the next one is due."""

    def __init__(self) -> None:
        super().__init__(name="webhook-dispatcher", daemon=True)
        self.wake = threading.Event()

    def run(self) -> None:
        while True:
            wait = 30.0
            self.wake.clear()  # before looking, so that a wake-up during the pass is not lost
            try:
                close_old_connections()
                while deliveries_dispatch_due():
                    pass
                due_in = _next_due_in()
                wait = 30.0 if due_in is None else min(30.0, due_in)
            except Exception:  # a database hiccup must not kill the dispatcher
                logger.exception("webhook dispatcher failed; retrying")
            finally:
                close_old_connections()
            self.wake.wait(timeout=wait)


_dispatcher: _Dispatcher | None = None
_dispatcher_lock = threading.Lock()


def dispatcher_wake() -> None:
    """Start the process's dispatcher if needed and make it look for due deliveries now."""
    global _dispatcher
    if not webhook_settings["BACKGROUND"]:
        return
    with _dispatcher_lock:
        if _dispatcher is None or not _dispatcher.is_alive():
            _dispatcher = _Dispatcher()
            _dispatcher.start()
    _dispatcher.wake.set()


def webhook_payload_alert(alert: Any) -> dict:
    """An alert with its session (and its review once it has an outcome), as webhook data."""
    session = alert.session
    review = {"review": {"outcome": alert.review_outcome, "note": alert.review_note,
                         "reviewed_by": alert.reviewed_by.get_username() if alert.reviewed_by else None,
                         "reviewed_at": alert.reviewed_at.isoformat() if alert.reviewed_at else None}} \
        if alert.review_outcome else {}
    return {"alert": alert.as_message(), **review,
            "session": {"id": str(session.id), "learner": session.learner.get_username(),
                        "course_id": session.course_id, "exam_id": session.exam_id, "attempt_id": session.attempt_id}}
