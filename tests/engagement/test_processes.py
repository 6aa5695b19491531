"""Live frames analysed in the server's analysis processes (ENGAGEMENT["ANALYSIS_PROCESSES"]): same answers, same
errors, and a process that dies is replaced."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from engagement import processes
from engagement.api import Frame, frame_analyze_described
from engagement.exceptions import InvalidInput, TooManyRequests
from tests import images


@pytest.fixture
def in_processes(settings):
    """One analysis process for the test, stopped afterwards (the next test starts from none)."""
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "ANALYSIS_PROCESSES": 1}
    processes.processes_stop()
    yield settings
    processes.processes_stop()


def _pids() -> set[int]:
    return processes.process_pids()


def _die_once(marker: str) -> int:
    """In an analysis process: exit abruptly the first time (as a process killed mid-frame), answer the pid after."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return os.getpid()


def _busy_then_pid(marker: str, seconds: float) -> int:
    """In an analysis process: say which process this is (in the marker file), stay busy, answer the pid."""
    with open(marker, "w") as out:
        out.write(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


def _answer_that_cannot_cross():
    return lambda: None  # a lambda cannot be pickled back to the server


def _fails():
    return 1 / 0


def test_a_frame_analysed_in_a_process_answers_as_in_the_server(in_processes):
    frame = Frame(image=images.encode(images.astronaut()), timestamp="2026-12-07T08:00:00Z")
    here = frame_analyze_described(frame=frame, describe=True)
    there = frame_analyze_described(frame=frame, describe=True, separate_process=True)
    assert _pids() and os.getpid() not in _pids()  # it did run in another process
    drop = ("timings_ms", "processing_ms")
    assert {k: v for k, v in there[0].items() if k not in drop} == {k: v for k, v in here[0].items() if k not in drop}
    assert there[0]["dominant_emotion"] == "happy" and there[0]["face_count"] == 1
    assert np.array_equal(there[1], here[1]) and there[2] is None
    assert set(there[0]["timings_ms"]) >= {"decode", "detect", "emotion", "describe"}


def test_the_settings_of_the_moment_reach_the_process(in_processes):
    frame = Frame(image=images.encode(images.astronaut()))
    assert frame_analyze_described(frame=frame, describe=False, separate_process=True)[0]["age"] is not None
    in_processes.ENGAGEMENT = {**in_processes.ENGAGEMENT, "OPTIONS": {"age_gender": False}}
    assert frame_analyze_described(frame=frame, describe=False, separate_process=True)[0]["age"] is None


@pytest.mark.parametrize("image, code", [
    (b"not an image", "not_an_image"),
    ("data:image/jpeg;base64,@@@", "invalid_base64"),
    (images.decompression_bomb_png(), "image_too_large"),
])
def test_a_bad_frame_gets_the_same_error_without_reaching_a_process(in_processes, image, code):
    with pytest.raises(InvalidInput) as refused:
        frame_analyze_described(frame=Frame(image=image), describe=False, separate_process=True)
    assert refused.value.code == code
    assert not _pids()  # refused in the server, before any process was needed


def test_the_accounts_pixel_budget_holds_for_frames_sent_to_a_process(in_processes):
    in_processes.ENGAGEMENT = {**in_processes.ENGAGEMENT, "ACCOUNT_MAX_PIXELS": 640 * 480 - 1}
    with pytest.raises(TooManyRequests):
        frame_analyze_described(frame=Frame(image=images.encode(images.webcam_face())), describe=False,
                                account=7, separate_process=True)


def test_a_killed_process_is_replaced_and_the_next_frame_answered(in_processes):
    frame = Frame(image=images.encode(images.webcam_face()))
    assert frame_analyze_described(frame=frame, describe=False, separate_process=True)[0]["success"]
    [first] = _pids()
    os.kill(first, signal.SIGKILL)
    answer = frame_analyze_described(frame=frame, describe=False, separate_process=True)[0]
    assert answer["success"] and answer["dominant_emotion"] == "happy"
    assert first not in _pids() and _pids()


def test_a_frame_whose_process_dies_under_it_is_tried_once_more(in_processes, tmp_path):
    marker = str(tmp_path / "died")
    pid = processes.in_process(_die_once, marker)
    assert os.path.exists(marker) and pid in _pids()


def test_a_frame_that_kills_every_process_is_answered_unavailable(in_processes, tmp_path):
    from engagement.exceptions import EngineUnavailable

    with pytest.raises(EngineUnavailable):
        processes.in_process(os._exit, 3)
    assert processes.in_process(os.getpid) in _pids()  # and the next frame finds a working process


def test_the_processes_leave_with_a_server_killed_outright(tmp_path):
    # A server killed with SIGKILL (or by the kernel for memory) runs no clean-up: its children must notice.
    script = (
        "import os, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'proctoring.settings_test')\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "settings.ENGAGEMENT = {**settings.ENGAGEMENT, 'ANALYSIS_PROCESSES': 1, 'WARM_UP': False}\n"
        "from engagement.processes import processes_start\n"
        "print(processes_start()[0], flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        child = int(server.stdout.readline())
        os.kill(child, 0)  # running
        server.kill()
        server.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(f"/proc/{child}") and not _zombie(child):
            time.sleep(0.1)
        assert not os.path.exists(f"/proc/{child}") or _zombie(child), "the analysis process outlived its server"
    finally:
        server.kill()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def test_a_killed_process_is_replaced_alone(in_processes):
    # Two processes: one that dies is replaced, and the other keeps its models and its frames.
    in_processes.ENGAGEMENT = {**in_processes.ENGAGEMENT, "ANALYSIS_PROCESSES": 2}
    first, second = processes.processes_start()
    os.kill(first, signal.SIGKILL)
    frame = Frame(image=images.encode(images.webcam_face()))
    for _ in range(3):
        assert frame_analyze_described(frame=frame, describe=False, separate_process=True)[0]["success"]
    assert second in _pids() and first not in _pids() and len(_pids()) == 2


def test_calls_waiting_for_a_process_when_the_processes_stop_are_answered_unavailable(in_processes):
    import threading

    from engagement.exceptions import EngineUnavailable

    processes.processes_start()
    answers = {}

    def call(name, fn, *args):
        try:
            answers[name] = processes.in_process(fn, *args)
        except EngineUnavailable as exc:
            answers[name] = exc

    busy = threading.Thread(target=call, args=("busy", time.sleep, 1.0))
    busy.start()
    time.sleep(0.3)  # the one process is taken: the next call waits for it
    waiting = threading.Thread(target=call, args=("waiting", os.getpid))
    waiting.start()
    time.sleep(0.3)
    processes.processes_stop()
    busy.join(10)
    waiting.join(10)
    assert not busy.is_alive() and not waiting.is_alive(), "a call was left waiting for a stopped process"
    assert answers["busy"] is None  # the call in progress finished before its process stopped
    assert isinstance(answers["waiting"], EngineUnavailable) and not _pids()


def test_a_frame_in_analysis_survives_the_death_of_another_process(in_processes, tmp_path):
    import threading

    in_processes.ENGAGEMENT = {**in_processes.ENGAGEMENT, "ANALYSIS_PROCESSES": 2}
    pids = set(processes.processes_start())
    marker = tmp_path / "busy"
    answer = {}
    busy = threading.Thread(target=lambda: answer.setdefault("pid", processes.in_process(_busy_then_pid,
                                                                                       str(marker), 1.5)))
    busy.start()
    deadline = time.monotonic() + 10
    while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    working = int(marker.read_text())
    [other] = pids - {working}
    os.kill(other, signal.SIGKILL)
    busy.join(20)
    assert answer["pid"] == working  # answered by its own process, not tried again on a new one
    assert working in _pids() and other not in _pids()


def test_an_answer_that_cannot_cross_is_an_error_and_the_process_keeps_working(in_processes):
    with pytest.raises(RuntimeError, match="cannot be sent"):
        processes.in_process(_answer_that_cannot_cross)
    [pid] = _pids()
    assert processes.in_process(os.getpid) == pid


def test_an_error_in_a_process_carries_its_traceback_from_there(in_processes):
    with pytest.raises(ZeroDivisionError) as raised:
        processes.in_process(_fails)
    assert isinstance(raised.value.__cause__, processes.RemoteTraceback)
    assert "in _fails" in str(raised.value.__cause__)
