import base64, time, uuid, cProfile, pstats, sys
from _common import setup_django_throwaway
def main():
    setup_django_throwaway("first-")
    from django.contrib.auth import get_user_model
    from django.test.utils import CaptureQueriesContext
    from django.db import connection
    from _frames import encode_mix, frame_mix
    from engagement.engines import warm_up
    from monitor import services
    mix = encode_mix(frame_mix(use_dev_photos=True), quality=80)
    url = "data:image/jpeg;base64," + base64.b64encode(mix["face 90 px"][0]).decode()
    warm_up()
    firsts, seconds = [], []
    for i in range(30):
        learner = get_user_model().objects.create_user(f"l{i}")
        s = services.session_create(learner=learner, course_id="c", exam_id="e")
        for bucket in (firsts, seconds, seconds):
            c = time.thread_time()
            with CaptureQueriesContext(connection) as q:
                services.session_frame_process(session_id=str(s.id), user_id=learner.pk, frame_id=str(uuid.uuid4()), image=url, timestamp=None, new_frame=True)
            bucket.append(((time.thread_time() - c) * 1000, len(q.captured_queries)))
    import statistics
    print("first frame CPU ms p50", statistics.median(x for x, _ in firsts), "queries", firsts[-1][1])
    print("later frames CPU ms p50", statistics.median(x for x, _ in seconds), "queries", seconds[-1][1])
    learner = get_user_model().objects.create_user("lq"); s = services.session_create(learner=learner, course_id="c", exam_id="e")
    with CaptureQueriesContext(connection) as q:
        services.session_frame_process(session_id=str(s.id), user_id=learner.pk, frame_id=str(uuid.uuid4()), image=url, timestamp=None, new_frame=True)
    for x in q.captured_queries: print(x["sql"][:160])
if __name__ == "__main__": main()
