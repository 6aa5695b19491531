"""Pages: the one-time exam link, the learner's exam page and the instructors' live view."""
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from engagement.api import EngagementStatus, FrameError, engagement_settings

from . import evidence, selectors, services
from .alerts import AlertKind
from .choices import Connection, SessionStatus
from .conf import monitor_settings, retention_days
from .models import Alert


def join(request, token):
    """Log the session's learner in from a signed one-time link, confined to that exam, and open the exam page.

    Someone else's login in this browser is replaced only after they confirm (a POST from the page shown).
    """
    try:
        session = services.session_join_peek(token=token)
        current = request.user if request.user.is_authenticated else None
        if current is not None and current.pk != session.learner_id and request.method != "POST":
            return render(request, "monitor/join_confirm.html", {"session": session, "current": current})
        session = services.session_join(token=token)
    except services.SessionError as exc:
        own = getattr(exc, "session_id", None) and selectors.session_for_learner(
            session_id=exc.session_id, user=request.user)
        if own:
            # The learner is still logged in here (a closed tab, not a lost browser): the exam page is theirs.
            return redirect("monitor:exam", session_id=own.id)
        rejoin = exc.code in ("link_used", "link_expired")
        return render(request, "monitor/link_error.html", {
            "message": exc.message, "help": services.REJOIN_HELP if rejoin else ""}, status=403)
    if current is None or current.pk != session.learner_id or request.session.get(services.EXAM_LOGIN_KEY):
        # The link's login opens this exam only, and only until the browser closes or the exam ends.
        services.exam_login(request=request, session=session)
    return redirect("monitor:exam", session_id=session.id)


@login_required
def exam(request, session_id):
    """The exam page: webcam capture and live feedback over the session's socket."""
    session = selectors.session_for_learner(session_id=session_id, user=request.user)
    if session is None and (ended := selectors.session_ended_for_learner(session_id=session_id, user=request.user)):
        return exam_ended(request, ended)  # a reload after a normal end: said as such, not as an error
    if session is None:
        return render(request, "monitor/link_error.html",
                      {"message": "This exam session does not exist, is not yours, or has ended."}, status=404)
    return render(request, "monitor/exam.html", {
        "session": session, "max_frame_bytes": engagement_settings["MAX_REQUEST_BYTES"],
        "retention_days": retention_days(), "rejoin_help": services.REJOIN_HELP,
        "show_analysis": monitor_settings["SHOW_LEARNER_ANALYSIS"],
        "consented": bool(request.session.get(services.EXAM_CONSENT_KEY.format(session_id=session.id)))})


def exam_ended(request, session):
    """The exam page of an ended session: the end, said plainly (a normal end is not an error)."""
    return render(request, "monitor/ended.html", {"session": session})


@login_required
def live(request):
    """Instructors' live view of the sessions not started or in progress."""
    if not selectors.user_can_watch(user=request.user):
        raise PermissionDenied
    courses = selectors.courses_watched(user=request.user)
    # ?course=ID narrows the view to one course (an LMS opens it so), within the courses the instructor watches.
    course = request.GET.get("course") or None
    if course is not None:
        courses = {course} & courses if courses is not None else {course}
    return render(request, "monitor/live.html", {
        "sessions": selectors.sessions_live(courses=courses, watcher=request.user), "course": course,
        "labels": live_labels(),
        "empty_reason": selectors.live_empty_reason(user=request.user, courses=courses, course=course)})


def live_labels() -> dict:
    """The words the live view's script shows for the codes the server sends, from the enums that define them."""
    return {
        "status": {**dict(EngagementStatus.choices), **dict(FrameError.choices)},
        "session": dict(SessionStatus.choices),
        "kind": dict(AlertKind.choices),
        "presence": dict(Connection.choices),
        "not_analysed": list(FrameError.values),
    }


@login_required
def evidence_picture(request, alert_id):
    """An alert's evidence picture, for the instructors of its course only; every view is logged."""
    alert = Alert.objects.select_related("session").filter(pk=alert_id).first()
    if alert is None or not evidence.evidence_viewable(user=request.user, alert=alert):
        raise PermissionDenied
    picture = evidence.evidence_open(alert=alert, user=request.user)
    if picture is None:
        raise Http404("This alert has no evidence picture.")
    response = HttpResponse(picture, content_type="image/jpeg")
    response["Cache-Control"] = "no-store, private"  # never kept by a browser or a proxy
    return response
