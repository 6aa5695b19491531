"""LTI pages: OIDC login initiation, the launch, the tool's key set, the values to register the tool, and the
camera check of LTI Proctoring Services."""
from __future__ import annotations

import json
import re
import logging
import time
from dataclasses import asdict
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, transaction
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from lti_tool.models import Key, LtiLaunch, LtiRegistration
from lti_tool.utils import sync_data_from_launch
from lti_tool.views import jwks  # noqa: F401  (the tool's key set, as django-lti serves it)
from pylti1p3.contrib.django import DjangoOIDCLogin
from pylti1p3.exception import LtiException, OIDCException

from engagement.api import EngagementError, Frame, frame_analyze, offloaded, task_send, throttle_check
from monitor import api as monitor_services

from .conf import lti_settings
from . import registration, services
from .launch import (END_ASSESSMENT, LTI, START_PROCTORING, STORAGE_CHECKED, LaunchDataStorage, MessageLaunch,
                     PlatformStorageCheck, ToolConfig, attempt_number_of, platform_storage_remember,
                     target_link_uri_check)
from .forms import LinkSettingsForm
from .services import LaunchRefused, Role

logger = logging.getLogger(__name__)
PROCTORING_KEY = "lti.proctoring.{session_id}"
CHECKED_KEY = "lti.camera-checked.{session_id}"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
NO_KEY = "The tool has no signing key yet: an administrator must run manage.py rotate_keys."
PROCTORING = (START_PROCTORING, END_ASSESSMENT)


def framable(response, origins: list[str] | None = None):
    """Let an LMS show this page in its frame: a page that says why (any site), or one that acts for a launch's user,
    which only the platform's own `origins` may frame (another site could make them click it unseen)."""
    ancestors = "*" if origins is None else " ".join(origins) or "'none'"
    response.headers["Content-Security-Policy"] = lti_settings["CONTENT_SECURITY_POLICY"].replace(
        "frame-ancestors 'none'", f"frame-ancestors {ancestors}")
    response.xframe_options_exempt = True
    return response


def refused(request, message: str, status: int = 400):
    """The page a refused launch gets: what was wrong, in words, with a 4xx status (readable in an LMS frame)."""
    logger.warning("LTI launch refused (%s): %s", status, message)
    return framable(render(request, "lti/error.html", {"message": message}, status=status))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def login_init(request, registration_uuid=None):
    """Third-party initiated login (OIDC): answer the platform with a redirect to its authorization endpoint."""
    params = request.POST if request.method == "POST" else request.GET
    if not params.get("target_link_uri"):
        return refused(request, "The login request has no target_link_uri.")
    try:
        target_link_uri_check(url=params["target_link_uri"], host=request.get_host())
    except LtiException as exc:
        return refused(request, f"The login request was refused: {exc}.")
    oidc = DjangoOIDCLogin(request, ToolConfig(registration_uuid), launch_data_storage=LaunchDataStorage())
    launch_url = request.build_absolute_uri(reverse("lti:launch"))
    try:
        target = params.get("lti_storage_target")
        if target:
            return _login_with_platform_storage(request, oidc, launch_url, params, target)
        # No cookie-check page: without platform storage, a framed launch whose cookie is refused says so in the
        # frame, and the tool's pages open in a window of their own anyway (the camera).
        return oidc.redirect(launch_url)
    except (OIDCException, LtiException) as exc:
        return refused(request, f"The login request was refused: {exc}.")
    except Key.DoesNotExist:
        return refused(request, NO_KEY, 503)


STORAGE_TARGET = re.compile(r"[A-Za-z0-9_.-]{1,100}")


def _login_with_platform_storage(request, oidc, launch_url, params, target):
    # LTI Client Side postMessages: the state and nonce go to the platform's storage (a frame of the LMS page)
    # as well as to the cookie, which a browser may refuse to a framed tool.
    if not STORAGE_TARGET.fullmatch(target):
        raise OIDCException("Invalid lti_storage_target")
    redirect_to = oidc.get_redirect_object(launch_url)
    auth_url = redirect_to.get_redirect_url()
    query, auth = dict(parse_qsl(urlsplit(auth_url).query)), urlsplit(auth_url)
    origin = f"{auth.scheme}://{auth.netloc}"
    platform_storage_remember(state=query["state"], nonce=query["nonce"], target=target, origin=origin)
    # If the platform's storage does not answer, the same login in a window of its own (first-party cookies).
    again = {key: value for key, value in params.items() if key != "lti_storage_target"}
    response = framable(render(request, "lti/platform_storage.html", {
        "mode": "put", "target": target, "origin": origin, "state": query["state"], "nonce": query["nonce"],
        "next_url": auth_url, "new_window_url": f"{request.path}?{urlencode(again)}"}))
    oidc._cookie_service.update_response(response)  # the state cookie too, for browsers that keep it
    return response


def _platform_storage_check(request, check: PlatformStorageCheck):
    # The launch's state is not in a cookie: this page reads it (and the nonce) back from the platform's storage
    # and, if they match, posts the launch again from the tool's own origin.
    return framable(render(request, "lti/platform_storage.html", {
        "mode": "get", "target": check.target, "origin": check.origin, "state": check.state, "nonce": check.nonce,
        "next_url": reverse("lti:launch"), "id_token": request.POST.get("id_token", ""),
        "checked_field": STORAGE_CHECKED}))


@csrf_exempt
@xframe_options_exempt  # only a framed launch's "open in a new window" page is shown in a frame (CSP says so)
@require_POST
def launch(request):
    """An LTI message from a platform: validated, then a resource link, a start of proctoring or an end of attempt."""
    try:
        message = MessageLaunch(request)  # over HTTPS it needs PyLTI1p3's session cookie, or it refuses here
        body = message.validate().get_launch_data()
    except PlatformStorageCheck as check:
        return _platform_storage_check(request, check)
    except (LtiException, OIDCException) as exc:
        return refused(request, f"The launch was refused: {exc}.")
    except Key.DoesNotExist:
        return refused(request, NO_KEY, 503)
    except Exception:  # a platform's key set that cannot be read, a broken token...: refused, never a 500
        logger.exception("LTI launch failed")
        return refused(request, "The launch was refused: its token could not be verified.")
    deployment = message.get_deployment()
    if not deployment.is_active:
        return refused(request, "This deployment of the tool is not active yet: an administrator must activate it "
                                "in the tool's admin (LTI registrations).", 403)
    kind = message.get_message_type()
    try:
        if kind == RESOURCE_LINK:
            return _resource_link(request, message, body)
        if kind == START_PROCTORING:
            return _start_proctoring(request, message, body)
        if kind == END_ASSESSMENT:
            return _end_assessment(request, message, body)
        if kind == DEEP_LINKING:
            return _deep_linking(request, message, body)
        raise LaunchRefused(f"This tool does not handle {kind} messages: add it as an exam or proctoring tool.")
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)


def _role_and_user(message, body, *, wanted: str | None = None):
    role = services.role_of(roles=body.get(LTI + "roles"))
    if wanted == Role.LEARNER and body.get(LTI + "roles") == [] and message.get_message_type() in PROCTORING:
        # Open edX's exam service sends these with no role at all (LTI core lets a message name no role): the
        # learner who sits the attempt is the only one a platform sends them for.
        role = Role.LEARNER
    course_id, exam_id = services.course_and_exam(body=body)
    if role == Role.OTHER or (wanted and role != wanted):
        raise _OtherRole
    # Only now, with a valid launch the tool acts on, are records made. django-lti reads claims PyLTI1p3 does not
    # check (the NRPS URL, the platform's guid, titles): malformed ones are refused, not a 500.
    try:
        with transaction.atomic():
            sync_data_from_launch(LtiLaunch(message))
    except KeyError as exc:  # e.g. a tool_platform claim without its guid (LTI core 5.4.2 requires it)
        raise LaunchRefused(f"The launch carries a malformed claim: its required field {str(exc)[:64]} is "
                            "missing.") from exc
    except (TypeError, AttributeError, DatabaseError) as exc:
        raise LaunchRefused(f"The launch carries a malformed claim ({type(exc).__name__}).") from exc
    user = services.lti_user_resolve(registration=message.get_registration_row(), sub=body["sub"], body=body)
    return role, user, course_id, exam_id


class _OtherRole(Exception):
    """A role this launch has nothing for (a page says what each role may do)."""


def _other_role(request, expected: str = ""):
    return render(request, "lti/roles.html", {"expected": expected}, status=403)


def _resource_link(request, message, body):
    link_settings = services.link_settings_of(body=body)  # unusable settings are refused before any record is made
    try:
        role, user, course_id, exam_id = _role_and_user(message, body)
    except _OtherRole:
        return _other_role(request)
    if role == Role.INSTRUCTOR:
        services.instructor_assign(user=user, course_id=course_id)
        _instructors_sync_later(message, body)
        return _go_on(request, services.Continuation(
            user_id=user.pk, next_url=f"{reverse('monitor:live')}?{urlencode({'course': course_id})}"), message, body)
    session = services.learner_session_open(user=user, course_id=course_id, exam_id=exam_id,
                                            link_settings=link_settings)
    return _go_on(request, services.Continuation(user_id=user.pk, next_url=reverse("monitor:exam", args=[session.id]),
                                                 exam_session_id=str(session.id)), message, body)


def _go_on(request, continuation: "services.Continuation", message, body):
    """Log the launch's user in and go on; inside an LMS frame, offer the same in a window of its own.

    The tool's pages need the camera and refuse to be framed, and a frame's login would not reach a new window
    (its cookie is the LMS's third party): the window gets a one-time link that logs in by itself. Only the
    platform's own pages may frame that offer.
    """
    if request.headers.get("Sec-Fetch-Dest") == "iframe":
        token = services.continuation_token(continuation=continuation)
        origins = services.platform_origins(registration=message.get_registration_row(), body=body)
        return framable(render(request, "lti/new_window.html", {"url": reverse("lti:continue", args=[token])}),
                        origins)
    _continuation_apply(request, continuation)
    return redirect(continuation.next_url)


def _continuation_apply(request, continuation: "services.Continuation") -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=continuation.user_id, is_active=True).first()
    if user is None:
        raise LaunchRefused(services.ACCOUNT_DISABLED, 403)
    if continuation.exam_session_id is None:
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # Django keeps the session of a login by the same user: an earlier launch's confinement to an exam (and
        # its close-with-the-browser expiry) must not outlive this instructor login.
        request.session.pop(monitor_services.EXAM_LOGIN_KEY, None)
        request.session.set_expiry(None)
        return
    session = monitor_services.session_for_learner(session_id=continuation.exam_session_id, user=user)
    if session is None:
        raise LaunchRefused("This exam session has ended: start again from your course.", 409)
    monitor_services.exam_login(request=request, session=session)
    if continuation.proctoring is not None:
        request.session[PROCTORING_KEY.format(session_id=session.id)] = continuation.proctoring


def continue_launch(request, token):
    """The one-time link a framed launch offers: log in as that launch would have, in this window, and go on.

    Someone else's login in this browser is replaced only after they confirm (a POST from the page shown), as an
    exam link asks.
    """
    try:
        continuation = services.continuation_peek(token=token)
        current = request.user if request.user.is_authenticated else None
        if current is not None and current.pk != continuation.user_id and request.method != "POST":
            return render(request, "lti/continue_confirm.html", {"current": current})
        continuation = services.continuation_use(token=token)
        _continuation_apply(request, continuation)
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)
    return redirect(continuation.next_url)


def _instructors_sync_later(message, body):
    # In the scaled set-up a worker syncs the course's instructors from the platform's member list (NRPS).
    if offloaded() and body.get("https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"):
        task_send("lti.tasks.course_instructors_sync", context_id=LtiLaunch(message).context.pk)


def _start_proctoring(request, message, body):
    link_settings = services.link_settings_of(body=body)
    try:
        _, user, course_id, exam_id = _role_and_user(message, body, wanted=Role.LEARNER)
    except _OtherRole:
        return _other_role(request, expected="learner")
    session = services.learner_session_open(user=user, course_id=course_id, exam_id=exam_id,
                                            attempt_id=str(attempt_number_of(body)), link_settings=link_settings)
    proctoring = services.Proctoring.from_launch(session=session, registration=message.get_registration_row(),
                                                 body=body)
    services.assessment_control_remember(session=session, registration=message.get_registration_row(), body=body)
    return _go_on(request, services.Continuation(
        user_id=user.pk, next_url=reverse("lti:proctoring", args=[session.id]), exam_session_id=str(session.id),
        proctoring=asdict(proctoring)), message, body)


def _end_assessment(request, message, body):
    try:
        _, user, course_id, exam_id = _role_and_user(message, body, wanted=Role.LEARNER)
    except _OtherRole:
        return _other_role(request, expected="learner")
    ended = services.proctored_session_end(user=user, course_id=course_id, exam_id=exam_id,
                                           attempt_number=attempt_number_of(body))
    presentation = body.get(LTI + "launch_presentation")
    return_url = presentation.get("return_url") if isinstance(presentation, dict) else None
    if not (isinstance(return_url, str) and return_url.startswith(("https://", "http://"))):
        return_url = None  # never a javascript: or other scheme in the link
    return render(request, "lti/ended.html", {"session": ended, "return_url": return_url})


def _deep_linking(request, message, body):
    # An instructor adds a proctored exam from the LMS's content picker (often shown in a frame: no cookie is
    # needed, the form carries the request signed, for one use).
    if services.role_of(roles=body.get(LTI + "roles")) != Role.INSTRUCTOR:
        return _other_role(request, expected="instructor")
    deep_linking = services.DeepLinking.from_launch(registration=message.get_registration_row(), body=body)
    return framable(render(request, "lti/deep_link.html", {"token": deep_linking.token(),
                                                           "form": LinkSettingsForm()}))


@csrf_exempt  # the token the form carries is signed and used once; an LMS frame may keep no cookie of the tool
@xframe_options_exempt
@require_POST
def deep_link(request):
    """The instructor's settings for a new link: a signed LtiDeepLinkingResponse posted back to the platform."""
    form, token = LinkSettingsForm(request.POST), request.POST.get("token", "")
    if not form.is_valid():
        return framable(render(request, "lti/deep_link.html", {"token": token, "form": form}, status=400))
    try:
        deep_linking = services.DeepLinking.from_token(token)
        custom = services.link_custom_parameters(frame_interval=form.cleaned_data["frame_interval"],
                                                 identity_check=form.cleaned_data["identity_check"],
                                                 evidence=form.cleaned_data["evidence"],
                                                 alerts_off=form.alerts_off(),
                                                 notice_text=form.cleaned_data["notice_text"])
        jwt_value = services.deep_linking_response_jwt(
            deep_linking=deep_linking, title=form.cleaned_data["title"],
            launch_url=request.build_absolute_uri(reverse("lti:launch")), custom=custom)
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)
    return _post_to_platform(request, url=deep_linking.return_url, token=jwt_value, framed=True,
                             heading="Adding the exam to your course")


def _post_to_platform(request, *, url: str, token: str, framed: bool = False, heading: str = ""):
    # A page whose form posts a signed message (JWT) to the platform at once: that one origin is allowed as a form
    # target on this page.
    target = urlsplit(url)
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", target.netloc or ""):
        return refused(request, "The platform's return URL has an invalid host.")
    response = render(request, "lti/start_assessment.html", {"url": url, "token": token, "heading": heading})
    response.headers["Content-Security-Policy"] = lti_settings["CONTENT_SECURITY_POLICY"].replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}")
    if framed:
        response.headers["Content-Security-Policy"] = response.headers["Content-Security-Policy"].replace(
            "frame-ancestors 'none'", "frame-ancestors *")
        response.xframe_options_exempt = True
    return response


def _proctoring_of(request, session_id):
    data = request.session.get(PROCTORING_KEY.format(session_id=session_id))
    session = monitor_services.session_for_learner(session_id=session_id, user=request.user)
    if data is None or session is None:
        raise LaunchRefused("This proctoring check is not open in this browser: start it again from your course.",
                            404)
    return services.Proctoring(**data), session


@login_required
def proctoring(request, session_id):
    """LtiStartProctoring: the monitoring notice and a camera check before the learner starts the attempt."""
    try:
        _, session = _proctoring_of(request, session_id)
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)
    return render(request, "lti/proctoring.html", {
        "session": session, "retention_days": monitor_services.retention_days(),
        "check_url": reverse("lti:proctoring-check", args=[session.id]),
        "monitor_url": reverse("lti:proctoring-monitor", args=[session.id])})


CHECK_ADVICE = {
    "no_face": "We cannot see you: face the camera in good light.",
    "face_too_small": "You are far from the camera: please come closer.",
}


@login_required
@require_POST
def proctoring_check(request, session_id):
    """One camera picture (JSON {"image": data URL}): whether exactly one face is in view. JSON answers."""
    try:
        _proctoring_of(request, session_id)
        throttle_check(request=request, scope="camera_check")
        image = json.loads(request.body or b"null")
        image = image.get("image") if isinstance(image, dict) else None
        # Only faces are counted: age and gender are never inferred for the check (exams have them off too).
        result = frame_analyze(frame=Frame(image=image, timestamp=timezone.now()), user=request.user, shared_pool=True,
                               age_gender=False)
    except LaunchRefused as exc:
        return JsonResponse({"ok": False, "error": "not_open", "message": exc.message}, status=exc.status)
    except ValueError:
        return JsonResponse({"ok": False, "error": "invalid_json", "message": "Send JSON: {\"image\": data URL}."},
                            status=400)
    except EngagementError as exc:
        return JsonResponse({"ok": False, **exc.as_dict()}, status=exc.status_code)
    if result["face_count"] > 1:
        return JsonResponse({"ok": False, "message": "Only you should be in view of the camera."})
    if not result["success"]:
        return JsonResponse({"ok": False, "message": CHECK_ADVICE.get(result.get("error"), result.get("message"))})
    request.session[CHECKED_KEY.format(session_id=session_id)] = time.time()
    return JsonResponse({"ok": True, "message": "Camera OK: you are in view."})


def _checked(request, session_id):
    proctoring_data, session = _proctoring_of(request, session_id)
    checked = request.session.get(CHECKED_KEY.format(session_id=session_id)) or 0
    if time.time() - checked > lti_settings["CAMERA_CHECK_SECONDS"]:
        raise LaunchRefused("The camera check has not passed (or is too old): check your camera again.", 409)
    return proctoring_data, session


@login_required
@require_http_methods(["GET", "POST"])
def proctoring_monitor(request, session_id):
    """The monitoring window the learner's "I agree" opens (a POST with the check page's CSRF token): the agreement
    is recorded and the exam page starts. A GET (a link any site could open) only shows the exam page, which asks."""
    try:
        _, session = _checked(request, session_id)
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)
    if request.method == "POST":
        monitor_services.exam_consent_record(request=request, session=session)
    return redirect("monitor:exam", session_id=session.id)


@login_required
@require_POST
def proctoring_start(request, session_id):
    """The learner starts the attempt: a signed LtiStartAssessment message posted back to the platform."""
    try:
        proctoring_data, session = _checked(request, session_id)
        token = services.start_assessment_jwt(proctoring=proctoring_data)
    except LaunchRefused as exc:
        return refused(request, exc.message, exc.status)
    monitor_services.exam_consent_record(request=request, session=session)
    return _post_to_platform(request, url=proctoring_data.start_assessment_url, token=token)


@login_required
def setup(request):
    """For administrators: the values to enter in an LMS, and the registrations and keys this tool has."""
    if not (request.user.is_superuser or request.user.has_perm("lti_tool.view_ltiregistration")):
        raise PermissionDenied
    absolute = request.build_absolute_uri
    registrations = LtiRegistration.objects.prefetch_related("deployments").order_by("name")
    key = Key.objects.active().order_by("-datetime_created").first()
    return render(request, "lti/setup.html", {
        "login_url": absolute(reverse("lti:login")), "launch_url": absolute(reverse("lti:launch")),
        "jwks_url": absolute(reverse("lti:jwks")), "register_url": absolute(reverse("lti:register")),
        "registrations": [(r, absolute(reverse("lti:login-registration", args=[r.uuid])),
                           [(d, services.lti_course_id(issuer=r.issuer, deployment_id=d.deployment_id, context_id=""))
                            for d in r.deployments.all()]) for r in registrations],
        "key": key})


@xframe_options_exempt
@require_http_methods(["GET"])
def register(request):
    """LTI Dynamic Registration: the URL an LMS administrator pastes; the tool registers itself with that LMS."""
    try:
        config = registration.platform_configuration_read(url=request.GET.get("openid_configuration", ""))
        row = registration.platform_register(config=config, base_url=request.build_absolute_uri("/").rstrip("/"),
                                             registration_token=request.GET.get("registration_token", ""))
    except LaunchRefused as exc:
        return refused(request, f"The registration was refused: {exc.message}", exc.status)
    return framable(render(request, "lti/registered.html", {"registration": row}))


@login_required
@require_http_methods(["GET", "POST"])
def registrations(request):
    """For administrators of the tool: registrations made by LMSs (dynamic registration), approved here."""
    if not (request.user.is_superuser or request.user.has_perm("lti_tool.change_ltiregistration")):
        raise PermissionDenied
    if request.method == "POST":
        number = request.POST.get("registration", "")
        row = (LtiRegistration.objects.filter(pk=int(number), is_active=False).first()
               if number.isdigit() and len(number) < 19 else None)
        if row is None:
            return refused(request, "No registration waits for approval under that number.", 404)
        registration.registration_approve(registration=row)
        return redirect("lti:registrations")
    rows = LtiRegistration.objects.prefetch_related("deployments").order_by("is_active", "-datetime_created")
    return render(request, "lti/registrations.html", {"registrations": rows})


@login_required
@require_http_methods(["GET", "POST"])
def control(request, session_id):
    """For the course's instructors: pause, resume or terminate a proctored attempt through its platform (ACS)."""
    session = monitor_services.ExamSession.objects.filter(pk=session_id).select_related("learner").first()
    # monitor's rule, so that its live view and report link here for exactly those who may act.
    if session is None or not monitor_services.user_can_control(user=request.user, session=session):
        return refused(request, "This exam session is not one of your courses'.", 404)
    if request.method == "POST":
        try:
            services.assessment_control_send(session=session, action=request.POST.get("action", ""), by=request.user)
        except LaunchRefused as exc:
            return refused(request, exc.message, exc.status)
        return redirect("lti:control", session_id=session.id)
    assessment_control = getattr(session, "assessment_control", None)
    actions = [a for a in services.CONTROL_ACTIONS if assessment_control and a in assessment_control.actions]
    return render(request, "lti/control.html", {"session": session, "control": assessment_control,
                                                "actions": actions,
                                                "sent": assessment_control.sent.all() if assessment_control else []})

