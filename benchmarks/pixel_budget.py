"""A live learner's round trip while another account sends maximum-pixel PNGs: `python benchmarks/pixel_budget.py`.

Starts the server as deployed (python -m proctoring.serve) on a throwaway database, one learner socket sending a
webcam frame every --interval seconds, then --attackers threads of one other account posting 4096x4096 PNGs
(about 50 kB each) to /analyze-mood without pause. Prints the learner's round trip (median, p90) without and with
the attack, the attack's answers by status, and the server's CPU seconds per phase.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import ROOT, cpu_model, percentile, setup_django_throwaway  # noqa: E402


def big_png() -> str:
    """A 4096x4096 PNG data URL: a flat picture compresses to tens of kB but decodes to 50 MB."""
    out = io.BytesIO()
    Image.fromarray(np.full((4096, 4096, 3), 200, dtype=np.uint8)).save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def learner_phase(url: str, token: str, session_id: str, seconds: float, interval: float) -> list[float]:
    """Round trips (ms) of frames sent every `interval` seconds for `seconds`."""
    from websockets.sync.client import connect

    from tests import images

    face = images.data_url(images.webcam_face())
    trips = []
    with connect(f"{url}/ws/monitor/sessions/{session_id}/", additional_headers={"Authorization": f"Token {token}"},
                 origin=url.replace("ws://", "http://"), max_size=None) as ws:
        json.loads(ws.recv(timeout=30))  # connected
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sent = time.perf_counter()
            ws.send(json.dumps({"type": "frame", "image": face}))
            while True:
                answer = json.loads(ws.recv(timeout=60))
                if answer.get("type") in ("analysis", "error", "dropped"):
                    break
            trips.append((time.perf_counter() - sent) * 1000)
            time.sleep(max(0.0, interval - (time.perf_counter() - sent)))
    return trips


def main() -> None:
    """Run both phases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--attackers", type=int, default=16)
    args = parser.parse_args()
    setup_django_throwaway("pixel-budget-")
    from django.contrib.auth import get_user_model

    from monitor.services import session_create

    try:
        from monitor.services import api_token_issue
    except ImportError:  # a version before hashed tokens (to measure it for comparison)
        from rest_framework.authtoken.models import Token

        def api_token_issue(*, user):
            return Token.objects.create(user=user).key

    users = get_user_model().objects
    learner, attacker = users.create_user("lea"), users.create_user("mallory")
    session = session_create(learner=learner, course_id="c", exam_id="e", frame_interval=args.interval)
    tokens = {"lea": api_token_issue(user=learner), "mallory": api_token_issue(user=attacker)}
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "MONITOR_RATE_LIMIT_FRAMES": "100"}
    server = subprocess.Popen([sys.executable, "-m", "proctoring.serve", "-b", "127.0.0.1", "-p", str(args.port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    http, ws = f"http://127.0.0.1:{args.port}", f"ws://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{http}/healthz", timeout=2).json()["engine"]["loaded"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                time.sleep(0.5)
        png = json.dumps({"image": big_png()})
        cpu = server_cpu(server.pid)
        calm = learner_phase(ws, tokens["lea"], str(session.id), args.seconds, args.interval)
        calm_cpu, cpu = server_cpu(server.pid) - cpu, server_cpu(server.pid)
        statuses: Counter = Counter()
        stop = threading.Event()

        def attack() -> None:
            while not stop.is_set():
                try:
                    statuses[requests.post(f"{http}/analyze-mood", data=png, timeout=120,
                                           headers={"Authorization": f"Token {tokens['mallory']}",
                                                    "Content-Type": "application/json"}).status_code] += 1
                except requests.RequestException as exc:
                    statuses[type(exc).__name__] += 1

        threads = [threading.Thread(target=attack, daemon=True) for _ in range(args.attackers)]
        for thread in threads:
            thread.start()
        attacked = learner_phase(ws, tokens["lea"], str(session.id), args.seconds, args.interval)
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        attacked_cpu = server_cpu(server.pid) - cpu
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; {args.attackers} attackers, one learner frame every "
          f"{args.interval} s, {args.seconds} s per phase")
    for name, trips, seconds in (("alone", calm, calm_cpu), ("under attack", attacked, attacked_cpu)):
        print(f"learner round trip {name}: median {percentile(trips, 50):.0f} ms, p90 {percentile(trips, 90):.0f} ms "
              f"({len(trips)} frames); server CPU {seconds:.1f} s")
    print("attack answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))


if __name__ == "__main__":
    main()
