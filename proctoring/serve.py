"""Run the project under daphne with limits that agree with the settings: `python -m proctoring.serve -b HOST -p PORT`.

Daphne's defaults do not fit this product, so this launcher adjusts three things before handing over to
daphne's own command line (any daphne option may follow; the application is always proctoring.asgi):
- socket messages up to ENGAGEMENT_MAX_REQUEST_BYTES are received (daphne's default of 1 MiB dropped valid
  frames silently); the consumer answers `payload_too_large` above that, and messages past a small margin more
  are closed by the server with code 1009 (message too big);
- a socket whose client stops reading is closed once MONITOR_SEND_BUFFER_BYTES of replies wait for it, and one
  whose client sends faster than its consumer handles messages once MONITOR_MAX_QUEUED_MESSAGES wait, instead of
  the server holding every unread reply and every unhandled message in memory;
- request bodies stay in memory, cut after ENGAGEMENT_MAX_BATCH_REQUEST_BYTES (Twisted writes every body over
  100 kB to a temporary file: raw frames would reach the disk); the application then answers 413;
- a handshake that a consumer refuses with close code 1013 ("try again later": Redis or the database is
  restarting), or that fails on one of them, is answered 503, not daphne's 403 or 500.
"""
from __future__ import annotations

import io
import logging
import os
import sys

TRY_AGAIN_LATER = 1013  # the WebSocket close code of a consumer that cannot serve a handshake for now
HANDSHAKE_SECONDS = 30  # a socket handshake may wait this long for the application (daphne: 5)
MESSAGE_MARGIN = 64 * 1024  # room over the consumer's own limit, so that it can answer payload_too_large
logger = logging.getLogger("proctoring.serve")


def unsent_bytes(transport) -> int:
    """Bytes Twisted holds for a connection that the kernel has not taken yet (0 where it cannot tell)."""
    # Twisted's FileDescriptor buffers writes in dataBuffer (from offset) and _tempDataBuffer (_tempDataLen
    # bytes); Twisted is pinned in requirements.txt. A TLS-wrapped transport has neither: no bound there.
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


class _BoundedBody(io.BytesIO):
    """A request body held in memory up to `limit` + 1 bytes; the rest is dropped (the body is then over the limit)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.room = limit + 1

    def write(self, data) -> int:
        kept = bytes(data[:self.room])
        self.room -= len(kept)
        super().write(kept)
        return len(data)


def install(*, send_buffer: int, queued_messages: int, body_limit: int) -> None:
    """Swap daphne's request and socket protocol classes for ones with these bounds (this process only)."""
    from autobahn.websocket.types import ConnectionDeny
    from daphne import http_protocol, ws_protocol
    from django.db import DatabaseError
    from redis.exceptions import RedisError

    unavailable = (RedisError, DatabaseError, OSError)

    class BoundedBodyRequest(http_protocol.WebRequest):
        def gotLength(self, length):  # noqa: N802 (Twisted's name)
            self.content = _BoundedBody(body_limit)

    class BoundedSocketProtocol(ws_protocol.WebSocketProtocol):
        def onMessage(self, payload, isBinary):  # noqa: N802 (autobahn's name)
            queue = getattr(self, "application_queue", None)
            if queue is not None and queue.qsize() >= queued_messages:
                logger.warning("closing a socket whose client sends faster than it is served (%s messages "
                               "queued): %s", queue.qsize(), self.client_addr)
                self.dropConnection(abort=True)  # daphne then tells the consumer that the socket closed
                return
            super().onMessage(payload, isBinary)

        def serverSend(self, content, binary=False):  # noqa: N802 (daphne's name)
            if self.transport is not None and unsent_bytes(self.transport) > send_buffer:
                logger.warning("closing a socket whose client stopped reading (%s bytes unsent): %s",
                               unsent_bytes(self.transport), self.client_addr)
                self.dropConnection(abort=True)
                return
            super().serverSend(content, binary)

        def handle_reply(self, message):
            # A consumer that refuses a handshake with "try again later" (1013: a service it needs is restarting)
            # is answered 503, where daphne answers every refusal 403.
            if (message.get("type") == "websocket.close" and message.get("code") == TRY_AGAIN_LATER
                    and self.state == self.STATE_CONNECTING):
                self.handshake_deferred.errback(ConnectionDeny(code=503, reason="Service Unavailable"))
                del self.handshake_deferred
                self.server.protocol_disconnected(self)
                return
            super().handle_reply(message)

        def handle_exception(self, exception):
            # Redis or the database down under a handshake (the session or auth middleware) is 503, not 500.
            if hasattr(self, "handshake_deferred") and isinstance(exception, unavailable):
                self.handshake_deferred.errback(ConnectionDeny(code=503, reason="Service Unavailable"))
                return
            super().handle_exception(exception)

    # daphne builds its request objects from this module global and its socket protocols from the factory's
    # class attribute: the only hooks it offers short of copying its Server.
    http_protocol.WebRequest = BoundedBodyRequest
    ws_protocol.WebSocketFactory.protocol = BoundedSocketProtocol


def demo_accounts_refuse() -> None:
    """Disable the demo accounts if they still have their published passwords (DEMO=0: production)."""
    import django
    from django.db import DatabaseError

    django.setup()
    from monitor.api import demo_accounts_disable

    try:
        demo_accounts_disable()
    except DatabaseError:  # not migrated yet: there are no accounts to disable
        logger.info("no database tables yet: no demo account to disable")


def main(argv: list[str] | None = None) -> None:
    """Install the bounds, then run daphne's command line with the message size limit from the settings."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctoring.settings")
    from daphne.cli import CommandLineInterface
    from django.conf import settings

    argv = list(sys.argv[1:] if argv is None else argv)
    if not settings.DEMO:
        demo_accounts_refuse()
    install(send_buffer=settings.MONITOR["SEND_BUFFER_BYTES"], queued_messages=settings.MONITOR["MAX_QUEUED_MESSAGES"],
            body_limit=settings.ENGAGEMENT["MAX_BATCH_REQUEST_BYTES"])
    message_limit = settings.ENGAGEMENT["MAX_REQUEST_BYTES"] + MESSAGE_MARGIN
    CommandLineInterface().run(["--websocket-max-message-size", str(message_limit),
                                "--websocket-max-frame-size", str(message_limit),
                                # A class opening its exam at once queues hundreds of handshakes (each reads the
                                # database): daphne's 5 s dropped them all, unanswered, at 600 learners.
                                "--websocket_connect_timeout", str(HANDSHAKE_SECONDS),
                                *argv, "proctoring.asgi:application"])


if __name__ == "__main__":
    main()
