"""The server as deployed (python -m proctoring.serve): socket message sizes, slow readers, request bodies."""
import json
import socket
import time

import numpy as np
import pytest
import requests
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect
from websockets.uri import parse_uri

from engagement.models import EngagementLog
from monitor import services
from tests import images
from tests.conftest import ServerProcess
from tests.tokens import token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def exam(learner):
    """A learner's scheduled exam session and the socket's handshake headers."""
    session = services.session_create(learner=learner, course_id="c1", exam_id="e1")
    return session, {"Authorization": f"Token {token_for(learner)}"}


@pytest.fixture
def learner(transactional_db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("lea", password="lea-password")
    token_for(user)
    return user


def socket_url(base, session):
    return base.replace("http://", "ws://") + f"/ws/monitor/sessions/{session.id}/"


def receive(ws, *types):
    while True:
        message = json.loads(ws.recv(timeout=60))
        if message["type"] in types:
            return message


def test_frames_up_to_the_limit_are_analysed_and_larger_ones_answered(server, exam):
    session, headers = exam
    face = images.webcam_face()
    noisy = np.clip(np.kron(face, np.ones((2, 2, 1), dtype=np.uint8)).astype(int)
                    + np.random.default_rng(1).integers(-8, 9, (960, 1280, 3)), 0, 255).astype(np.uint8)
    frame = images.data_url(noisy, fmt="PNG")
    assert 1.6e6 < len(frame) < 10 * 1024 * 1024  # over daphne's default 1 MiB, under our 10 MiB
    with ws_connect(socket_url(server, session), origin=server, additional_headers=headers, max_size=None) as ws:
        receive(ws, "connected")
        ws.send(json.dumps({"type": "frame", "image": frame}))
        answer = receive(ws, "analysis", "error")
        assert answer["type"] == "analysis" and answer["success"] is True, answer
        too_large = json.dumps({"type": "frame", "image": "A" * (10 * 1024 * 1024)})
        ws.send(too_large)
        refusal = receive(ws, "error")
        assert refusal["error"] == "payload_too_large"
        ws.send(json.dumps({"type": "ping"}))
        assert receive(ws, "pong")  # the socket is still open
    assert EngagementLog.objects.filter(session_key=str(session.id)).count() == 1


def test_a_message_far_over_the_limit_closes_the_socket_as_too_big(server, exam):
    session, headers = exam
    with ws_connect(socket_url(server, session), origin=server, additional_headers=headers, max_size=None) as ws:
        receive(ws, "connected")
        with pytest.raises(ConnectionClosed) as closed:
            ws.send("A" * (12 * 1024 * 1024))
            receive(ws, "error")
        # The server fails the connection as the message passes its limit: a close frame 1009 (message too big)
        # when the client reads it before the connection drops.
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009


def handshake(port, path, token, origin):
    """A raw socket that completed the WebSocket handshake and then never reads: a stalled client."""
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"))
    request = protocol.connect()
    request.headers["Origin"] = origin
    request.headers["Authorization"] = f"Token {token}"
    protocol.send_request(request)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: unread replies stay server-side
    raw.connect(("127.0.0.1", port))
    raw.sendall(protocol.data_to_send()[0])
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)  # read the handshake answer byte by byte: nothing after it
    assert response.startswith(b"HTTP/1.1 101"), response
    protocol.receive_data(response)
    assert protocol.handshake_exc is None, protocol.handshake_exc
    return raw, protocol


def stall(server, session, learner, *, per_burst, pause):
    """Send unknown-type messages in bursts (each is answered) without ever reading; True once the server cut it."""
    raw, protocol = handshake(server.port, f"/ws/monitor/sessions/{session.id}/", token_for(learner), server.url)
    for _ in range(per_burst):
        protocol.send_text(b'{"type": "unknown"}')
    burst = b"".join(protocol.data_to_send())
    raw.settimeout(5)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                raw.sendall(burst)
            except OSError:  # reset by the server
                return True
            time.sleep(pause)
        return False
    finally:
        raw.close()


def test_a_client_that_stops_reading_is_closed(exam, learner):
    session, _ = exam
    # The other bound off, so that only the unread replies can end the socket (a slow machine lags behind the pace).
    server = ServerProcess(MONITOR_SEND_BUFFER_BYTES=str(64 * 1024), MONITOR_MAX_QUEUED_MESSAGES="1000000")
    try:
        assert stall(server, session, learner, per_burst=20, pause=0.01), "a client that never reads was kept"
        assert "stopped reading" in server.output()
        # A client that reads gets every answer to more of the same traffic.
        reader = services.session_create(learner=learner, course_id="c1", exam_id="e2")
        with ws_connect(socket_url(server.url, reader), origin=server.url,
                        additional_headers={"Authorization": f"Token {token_for(learner)}"}) as ws:
            receive(ws, "connected")
            for _ in range(60):
                for _ in range(50):
                    ws.send('{"type": "unknown"}')
                assert all(receive(ws, "error")["error"] == "unknown_type" for _ in range(50))
    finally:
        server.stop()


def test_a_client_that_floods_the_socket_is_closed(exam, learner):
    session, _ = exam
    server = ServerProcess(MONITOR_SEND_BUFFER_BYTES=str(1024 ** 3))  # only the queue bound can end it
    try:
        assert stall(server, session, learner, per_burst=2000, pause=0), "a flooding client was kept"
        assert "sends faster than it is served" in server.output()
    finally:
        server.stop()


def test_request_bodies_are_bounded_and_answered_as_json(server, exam, learner):
    headers = {"Authorization": f"Token {token_for(learner)}", "Content-Type": "application/json"}
    url = f"{server}/api/v1/engagement/batch-analyze-mood"

    def chunks(total, size=1024 * 1024):  # a body of undeclared length (chunked)
        for _ in range(total // size):
            yield b" " * size

    over = requests.post(url, data=chunks(65 * 1024 * 1024), headers=headers, timeout=120)
    assert over.status_code == 413 and over.json()["error"] == "payload_too_large"
    face = {"frames": [{"image": images.data_url(images.webcam_face())}], "session_id": "s-serve"}
    ok = requests.post(url, json=face, headers={"Authorization": headers["Authorization"]}, timeout=60)
    assert ok.status_code == 200 and ok.json()["summary"]["analyzed_frames"] == 1
    assert EngagementLog.objects.filter(session_key="s-serve").count() == 1


def test_a_handshake_while_the_database_is_away_is_503_then_served(server, exam):
    """Issue 28: a socket opened while a service the handshake needs is away is told to retry (503), never 500."""
    from websockets.exceptions import InvalidStatus

    from monitor.models import ExamSession
    from tests.monitor.conftest import table_move

    session, headers = exam
    table_move(ExamSession, away=True)
    try:
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(socket_url(server, session), additional_headers=headers, origin=server, open_timeout=30)
        assert refused.value.response.status_code == 503
    finally:
        table_move(ExamSession, away=False)
    with ws_connect(socket_url(server, session), additional_headers=headers, origin=server, open_timeout=30) as ws:
        assert receive(ws, "connected")["session_id"] == str(session.id)
