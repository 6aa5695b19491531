"""LTI services: who a launch is (a local user per platform user), what it opens (an exam session, a course's
live view), the signed LtiStartAssessment answer, and instructors synced from Names and Role Provisioning."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit
from typing import Any

import jwt
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.text import slugify
from lti_tool.models import Key, LtiContext, LtiRegistration, LtiUser
from pylti1p3.exception import LtiException

from monitor import api as monitor_services
from monitor.api import CourseAssignment, ExamSession

from .conf import lti_settings
from .launch import (AP, LTI, START_ASSESSMENT, LinkKeepingServiceConnector, attempt_number_of,
                     nrps_members)

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
# Context roles (LTI 1.3 core, A.2.3), full or short. A teaching assistant is a sub-role of Instructor.
INSTRUCTOR_ROLES = {f"{MEMBERSHIP}#Instructor", f"{MEMBERSHIP}/Instructor#TeachingAssistant",
                    f"{MEMBERSHIP}#TeachingAssistant", "Instructor", "TeachingAssistant"}
LEARNER_ROLES = {f"{MEMBERSHIP}#Learner", f"{MEMBERSHIP}/Learner#Learner", "Learner"}


class LaunchRefused(Exception):
    """A valid launch this tool cannot act on (no course, a role it has nothing for...): a page says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


class Role:
    """What a launch's roles let its user do here."""

    INSTRUCTOR = "instructor"  # the course's live view and reports
    LEARNER = "learner"  # exam sessions
    OTHER = "other"  # nothing: a page says what each role may do


def role_of(*, roles: Any) -> str:
    """Instructor (or teaching assistant) first, then learner; anything else is other."""
    roles = {role for role in roles if isinstance(role, str)} if isinstance(roles, list) else set()
    if roles & INSTRUCTOR_ROLES:
        return Role.INSTRUCTOR
    if roles & LEARNER_ROLES:
        return Role.LEARNER
    return Role.OTHER


ACCOUNT_DISABLED = "This account is disabled in the tool: ask its administrator."
ID_LENGTH = 128  # the size of the course and exam id columns of monitor's sessions and course assignments


def lti_course_id(*, issuer: str, deployment_id: str, context_id: str) -> str:
    """The tool's course id for a platform's context: `lti:<10 hex digits of issuer and deployment>:<context id>`.

    A context id is unique only within its deployment (LTI 1.3 core, 5.1.2.1), and Moodle's are small integers:
    without the prefix two platforms, or a platform and the REST API, would share course assignments and reports.
    """
    digest = hashlib.sha256(f"{issuer}\n{deployment_id}".encode()).hexdigest()[:10]
    return f"lti:{digest}:{context_id}"


def course_and_exam(*, body: dict) -> tuple[str, str]:
    """The tool's course id (from context.id, per platform deployment) and exam id (resource_link.id) of a launch."""
    try:
        # JSON may carry lone surrogates ("\\ud800") in any claim (name, sub...) that no database can store.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise LaunchRefused("The launch carries text that is not valid Unicode (a lone surrogate).") from None
    context, link = body.get(LTI + "context"), body.get(LTI + "resource_link")
    course = context.get("id") if isinstance(context, dict) else None
    exam = link.get("id") if isinstance(link, dict) else None
    if not isinstance(course, str) or not course:
        raise LaunchRefused("The launch names no course (its context claim has no id): launch the tool from a course.")
    if not isinstance(exam, str) or not exam:
        raise LaunchRefused("The launch names no exam (its resource_link claim has no id).")
    course = lti_course_id(issuer=body.get("iss", ""), deployment_id=body.get(LTI + "deployment_id", ""),
                           context_id=course)
    if len(course) > ID_LENGTH or len(exam) > ID_LENGTH:
        raise LaunchRefused(f"The course id of the launch is longer than {ID_LENGTH - 15} characters, or its exam "
                            f"id longer than {ID_LENGTH}.")
    if not isinstance(body.get("sub"), str) or len(body["sub"]) > 255:
        raise LaunchRefused("The launch's user (sub) must be a string of at most 255 characters.")
    return course, exam


def context_course_id(*, context: LtiContext) -> str:
    """The tool's course id of a course (django-lti's LtiContext) that launched the tool."""
    return lti_course_id(issuer=context.deployment.registration.issuer,
                         deployment_id=context.deployment.deployment_id, context_id=context.id_on_platform)


def courses_known() -> list[tuple[str, str]]:
    """The courses that launched the tool, as (course id, label) pairs for the admin's course assignment."""
    contexts = LtiContext.objects.select_related("deployment__registration").exclude(id_on_platform="")
    return [(context_course_id(context=c), c.title or c.label or c.id_on_platform) for c in contexts]


def _text(value: Any, limit: int) -> str:
    # Optional claims are kept only when they are strings (cut to the column's size).
    return value[:limit] if isinstance(value, str) else ""


def _username(*, issuer: str, sub: str, body: dict) -> str:
    # Readable for instructors (a name or the email's local part), unique per platform user (a hash of issuer and
    # sub): a claim can never name an existing local account.
    readable = slugify(_text(body.get("name"), 200) or _text(body.get("email"), 254).split("@")[0])[:40] or "user"
    digest = hashlib.sha256(f"{issuer}\n{sub}".encode()).hexdigest()[:10]
    return f"{readable}-{digest}"


@transaction.atomic
def lti_user_resolve(*, registration: LtiRegistration, sub: str, body: dict | None = None):
    """The local user of a platform user (the `sub` of an issuer), created on first launch without a password."""
    body = body or {}
    lti_user, _ = LtiUser.objects.select_for_update().get_or_create(registration=registration, sub=sub)
    if lti_user.auth_user is None:
        # The same person through another client id of the same platform is the same local user.
        known = (LtiUser.objects.filter(registration__issuer=registration.issuer, sub=sub, auth_user__isnull=False)
                 .select_related("auth_user").first())
        user = known.auth_user if known else get_user_model().objects.create_user(
            _username(issuer=registration.issuer, sub=sub, body=body))
        lti_user.auth_user = user
        lti_user.save(update_fields=["auth_user"])
    user = lti_user.auth_user
    # The platform's own account: no other tenant (an LMS account over REST) can name it.
    monitor_services.learner_tenant_set(user=user, tenant=monitor_services.tenant_of_platform(
        issuer=registration.issuer))
    names = {"first_name": _text(body.get("given_name"), 150), "last_name": _text(body.get("family_name"), 150),
             "email": _text(body.get("email"), 254)}
    if not (names["first_name"] or names["last_name"]):  # only the full name: kept whole as the first name
        names["first_name"] = _text(body.get("name"), 150)
    changed = [k for k, v in names.items() if v and getattr(user, k) != v]
    for key in changed:
        setattr(user, key, names[key])
    if changed:
        user.save(update_fields=changed)
    return user


def instructor_assign(*, user, course_id: str) -> bool:
    """Make the user an instructor of the course (staff, in the Instructors group, assigned); True if newly assigned.

    Staff for the admin's reports, with the Instructors group's permissions only: the same account still sits exams
    in other courses (monitor's learner check lets such instructors through when asked to).
    """
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(monitor_services.instructors_group())
    return CourseAssignment.objects.get_or_create(instructor=user, course_id=course_id)[1]


# Settings an instructor chooses for one link (Deep Linking), sent back to the platform as custom parameters
# and so present in every launch of that link: session_create's argument -> the custom parameter's name.
LINK_SETTINGS = {
    "frame_interval": "proctoring_frame_interval",
    "identity_check": "proctoring_identity_check",
    "evidence": "proctoring_evidence",
    # Alert kinds switched off, comma-separated and sealed: every launch's id_token passes through the learner's
    # browser, and what goes unseen is the course's business.
    "alerts_off": "proctoring_alerts_off",
    # The course's words in the learner's monitoring notice, a line break written as a backslash and "n" (Moodle
    # keeps custom parameters as name=value lines), a backslash as two.
    "notice_text": "proctoring_notice_text",
}
FRAME_INTERVAL_RANGE = (1.0, 60.0)


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower() if isinstance(value, (str, bool)) else ""
    return {"true": True, "1": True, "false": False, "0": False}.get(text)


def _interval(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    low, high = FRAME_INTERVAL_RANGE
    return number if low <= number <= high else None


def _link_sealer() -> MultiFernet:
    # Keys made from the project's SECRET_KEY, and from its fallbacks, so that links made before a key rotation
    # still open.
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"lti.link-alerts-off\0{secret}".encode())
                                                        .digest())) for secret in secrets])


def _alerts_off(value: Any) -> list[str] | None:
    if value is None:
        return None
    try:
        value = _link_sealer().decrypt(value.encode()).decode()
    except (InvalidToken, UnicodeError, AttributeError):  # AttributeError: not a string
        raise LaunchRefused(f"This link's custom parameter {LINK_SETTINGS['alerts_off']} cannot be read: this tool "
                            "did not make it (or its secret key changed since). Set the link up again in the "
                            "LMS.") from None
    kinds = [kind.strip() for kind in value.split(",") if kind.strip()]
    known = set(monitor_services.AlertKind.values)
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        raise LaunchRefused(f"This link's custom parameter {LINK_SETTINGS['alerts_off']} names an unknown alert kind "
                            f"({unknown[0][:40]!r}); the kinds are {', '.join(sorted(known))}. Set the link up again "
                            "in the LMS.")
    return kinds


def _notice_text(value: Any) -> str | None:
    if value is None:
        return None
    limit = monitor_services.NOTICE_TEXT_MAX_LENGTH
    if isinstance(value, str):
        value = re.sub(r"\\(\\|n)", lambda escaped: "\n" if escaped.group(1) == "n" else "\\", value)
    if not isinstance(value, str) or len(value) > limit:
        raise LaunchRefused(f"This link's custom parameter {LINK_SETTINGS['notice_text']} is not a text of at most "
                            f"{limit} characters. Set the link up again in the LMS.")
    return value


def link_settings_of(*, body: dict) -> dict:
    """The session settings a launch's link carries (its custom parameters). Unreadable numbers and flags are left
    out (the defaults apply); alert kinds or a notice that cannot be used refuse the launch (LaunchRefused, 400), as
    guessing which alerts the course wanted off, or which words it wanted said, would not do."""
    custom = body.get(LTI + "custom")
    custom = custom if isinstance(custom, dict) else {}
    parsed = {"frame_interval": _interval(custom.get(LINK_SETTINGS["frame_interval"])),
              "identity_check": _flag(custom.get(LINK_SETTINGS["identity_check"])),
              "evidence": _flag(custom.get(LINK_SETTINGS["evidence"])),
              "alerts_off": _alerts_off(custom.get(LINK_SETTINGS["alerts_off"])),
              "notice_text": _notice_text(custom.get(LINK_SETTINGS["notice_text"]))}
    return {name: value for name, value in parsed.items() if value is not None}


def link_custom_parameters(*, frame_interval: float, identity_check: bool, evidence: bool,
                           alerts_off: list[str] = (), notice_text: str = "") -> dict:
    """The custom parameters of a link with these settings (LTI custom values are strings); alerts switched off and
    the notice's words only when there are some."""
    custom = {LINK_SETTINGS["frame_interval"]: f"{frame_interval:g}",
              LINK_SETTINGS["identity_check"]: "true" if identity_check else "false",
              LINK_SETTINGS["evidence"]: "true" if evidence else "false"}
    if alerts_off:
        custom[LINK_SETTINGS["alerts_off"]] = _link_sealer().encrypt(",".join(alerts_off).encode()).decode()
    if notice_text:
        custom[LINK_SETTINGS["notice_text"]] = (notice_text.replace("\r\n", "\n").replace("\\", "\\\\")
                                                .replace("\n", "\\n"))
    return custom


@transaction.atomic
def learner_session_open(*, user, course_id: str, exam_id: str, attempt_id: str = "",
                         link_settings: dict | None = None) -> ExamSession:
    """The learner's running session of this exam (and attempt), or a new one: one, even for launches at once.

    A new session takes the link's settings (`link_settings_of`): frame interval, identity check, evidence, alerts
    switched off, the notice's words."""
    # Two launches at once (a double click in the LMS) must not both find no session and both open one: the
    # user's row is locked on PostgreSQL, and SQLite's transactions are IMMEDIATE (settings), one writer at a time.
    # no_key: the lock must not hold up the inserts that point at the user (frames, logs) meanwhile.
    get_user_model().objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    if not user.is_active:
        raise LaunchRefused(ACCOUNT_DISABLED, 403)
    if CourseAssignment.objects.filter(instructor=user, course_id=course_id).exists():
        # An instructor of this course would watch, and review, their own exam.
        raise LaunchRefused("You are an instructor of this course, so you cannot sit its exams here: ask the "
                            "course's administrator.", status=403)
    try:
        running = monitor_services.session_running_of(learner=user, course_id=course_id, exam_id=exam_id,
                                                      attempt_id=attempt_id)
        if running is None:
            return monitor_services.session_create(learner=user, course_id=course_id, exam_id=exam_id,
                                                   attempt_id=attempt_id, allow_instructor=True,
                                                   tenant=monitor_services.learner_tenant(user=user),
                                                   **(link_settings or {}))
        # A running session is checked too: the account may have become an administrator since it was opened.
        monitor_services.learner_check(user=user, allow_instructor=True)
        return running
    except monitor_services.InvalidInput as exc:
        raise LaunchRefused(f"An exam session cannot be opened for this account: {exc.message}", status=403) from exc


@dataclass
class Proctoring:
    """What an LtiStartProctoring message asks for: kept in the learner's browser session until they start."""

    session_id: str
    registration_id: int
    deployment_id: str
    resource_link: dict
    attempt_number: int
    session_data: str | None
    start_assessment_url: str

    @classmethod
    def from_launch(cls, *, session: ExamSession, registration: LtiRegistration, body: dict) -> "Proctoring":
        """From a validated LtiStartProctoring launch."""
        return cls(session_id=str(session.id), registration_id=registration.pk,
                   deployment_id=body[LTI + "deployment_id"], resource_link=body[LTI + "resource_link"],
                   attempt_number=attempt_number_of(body), session_data=body.get(AP + "session_data"),
                   start_assessment_url=body[AP + "start_assessment_url"])


@dataclass
class Continuation:
    """Where a launch goes on: who is logged in (confined to an exam session or not), and the page to open."""

    user_id: int
    next_url: str
    exam_session_id: str | None = None
    proctoring: dict | None = None  # a Proctoring's fields, for a start-proctoring launch


CONTINUE_SALT = "lti.continue"


def continuation_token(*, continuation: Continuation) -> str:
    """A signed one-time token for a continuation (LTI_CONTINUE_SECONDS to use it)."""
    return signing.dumps({**asdict(continuation), "id": uuid.uuid4().hex}, salt=CONTINUE_SALT, compress=True)


CONTINUE_USED = "lti.continue-used.{id}"
LINK_USED = "This link was already used: open the activity again from your course."


def _continuation_read(token: str) -> dict:
    try:
        return signing.loads(token, salt=CONTINUE_SALT, max_age=lti_settings["CONTINUE_SECONDS"])
    except signing.SignatureExpired:
        raise LaunchRefused("This link has expired: open the activity again from your course.", 403) from None
    except signing.BadSignature:
        raise LaunchRefused("This link is not valid.", 403) from None


def continuation_peek(*, token: str) -> Continuation:
    """The continuation of a valid, unused token, without using it (to ask for confirmation first)."""
    data = _continuation_read(token)
    if cache.get(CONTINUE_USED.format(id=data.pop("id"))):
        raise LaunchRefused(LINK_USED, 403)
    return Continuation(**data)


def continuation_use(*, token: str) -> Continuation:
    """The continuation of a token, once: a second use, a bad signature or an old token is refused."""
    data = _continuation_read(token)
    if not cache.add(CONTINUE_USED.format(id=data.pop("id")), 1, timeout=lti_settings["CONTINUE_SECONDS"] + 60):
        raise LaunchRefused(LINK_USED, 403)
    return Continuation(**data)


ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def platform_origins(*, registration: LtiRegistration, body: dict) -> list[str]:
    """The origins a platform shows the tool's frame from: its issuer's, its login (OIDC auth) URL's and the
    launch's return URL's (signed by the platform), each only if it is a plain http(s) origin."""
    presentation = body.get(LTI + "launch_presentation")
    urls = [registration.issuer, registration.auth_url,
            presentation.get("return_url") if isinstance(presentation, dict) else None]
    origins = []
    for url in urls:
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        origin = f"{parts.scheme}://{parts.netloc}" if parts else ""
        if ORIGIN.fullmatch(origin) and origin not in origins:
            origins.append(origin)
    return origins


def tool_message_jwt(*, registration: LtiRegistration, deployment_id: str, message_type: str, claims: dict) -> str:
    """A signed tool-originating message (LTI Security Framework 5.2.3): issued by the tool's client id for the
    platform, signed with the tool's newest active key."""
    key = Key.objects.active().order_by("-datetime_created").first()
    if key is None:
        raise LaunchRefused("The tool has no signing key yet: an administrator must run manage.py rotate_keys.", 503)
    now = int(time.time())
    message = {"iss": registration.client_id, "aud": registration.issuer, "iat": now, "exp": now + 300,
               "nonce": uuid.uuid4().hex, LTI + "message_type": message_type, LTI + "version": "1.3.0",
               LTI + "deployment_id": deployment_id, **claims}
    return jwt.encode(message, key.private_key, algorithm="RS256", headers={"kid": key.as_jwk()["kid"]})


def start_assessment_jwt(*, proctoring: Proctoring) -> str:
    """The signed LtiStartAssessment message that sends the learner back to the platform to start the attempt."""
    registration = LtiRegistration.objects.get(pk=proctoring.registration_id)
    claims = {
        LTI + "resource_link": proctoring.resource_link,
        AP + "attempt_number": proctoring.attempt_number,
        AP + "session_data": proctoring.session_data,
        # Ask for LtiEndAssessment (Proctoring Services 1.0, 4.3): a platform sends it only to a tool that asked,
        # and it is what ends monitoring, releases the camera and shows the summary.
        AP + "end_assessment_return": True,
    }
    if proctoring.session_data is None:
        del claims[AP + "session_data"]
    return tool_message_jwt(registration=registration, deployment_id=proctoring.deployment_id,
                            message_type=START_ASSESSMENT, claims=claims)


DL = "https://purl.imsglobal.org/spec/lti-dl/claim/"
DEEP_LINKING_SALT = "lti.deep-linking"


@dataclass
class DeepLinking:
    """What an LtiDeepLinkingRequest asks for: kept signed in the settings form (which an LMS frame shows)."""

    registration_id: int
    deployment_id: str
    return_url: str
    data: Any = None
    window: bool = True  # whether the platform accepts a link that opens in a window

    @classmethod
    def from_launch(cls, *, registration: LtiRegistration, body: dict) -> "DeepLinking":
        """From a validated LtiDeepLinkingRequest (PyLTI1p3 checked its deep_linking_settings)."""
        dl_settings = body[DL + "deep_linking_settings"]  # PyLTI1p3 made sure it accepts ltiResourceLink
        return_url = dl_settings.get("deep_link_return_url")
        if not (isinstance(return_url, str) and return_url.startswith(("https://", "http://"))):
            raise LaunchRefused("The deep linking request has no valid deep_link_return_url.")
        return cls(registration_id=registration.pk, deployment_id=body[LTI + "deployment_id"], return_url=return_url,
                   data=dl_settings.get("data"),
                   window="window" in (dl_settings.get("accept_presentation_document_targets") or []))

    def token(self) -> str:
        """A signed, one-time token of this request for the settings form."""
        return signing.dumps({**asdict(self), "id": uuid.uuid4().hex}, salt=DEEP_LINKING_SALT, compress=True)

    @classmethod
    def from_token(cls, token: str) -> "DeepLinking":
        """The request of a settings form's token, once; an old, forged or used token is refused."""
        try:
            data = signing.loads(token, salt=DEEP_LINKING_SALT, max_age=lti_settings["CONTINUE_SECONDS"])
        except signing.BadSignature:
            raise LaunchRefused("This form has expired or is not valid: add the activity again from your course.",
                                403) from None
        if not cache.add(f"lti.deep-linking-used.{data.pop('id')}", 1, timeout=lti_settings["CONTINUE_SECONDS"] + 60):
            raise LaunchRefused("This form was already sent: add the activity again from your course.", 403)
        return cls(**data)


def deep_linking_response_jwt(*, deep_linking: DeepLinking, title: str, launch_url: str, custom: dict) -> str:
    """The signed LtiDeepLinkingResponse with one LtiResourceLink content item (Deep Linking 2.0, 4.2)."""
    item = {"type": "ltiResourceLink", "title": title, "url": launch_url, "custom": custom}
    if deep_linking.window:
        item["window"] = {"targetName": "proctored-exam"}  # the camera needs a window of its own
    claims = {DL + "content_items": [item]}
    if deep_linking.data is not None:  # returned as received when the platform sent it
        claims[DL + "data"] = deep_linking.data
    return tool_message_jwt(registration=LtiRegistration.objects.get(pk=deep_linking.registration_id),
                            deployment_id=deep_linking.deployment_id, message_type="LtiDeepLinkingResponse",
                            claims=claims)


def proctored_session_end(*, user, course_id: str, exam_id: str, attempt_number: int) -> ExamSession | None:
    """End the learner's session of this attempt (LtiEndAssessment), with its summary; None if none runs."""
    session = monitor_services.session_running_of(learner=user, course_id=course_id, exam_id=exam_id,
                                                  attempt_id=str(attempt_number))
    return monitor_services.session_end_announced(session=session) if session else None


NRPS_ACTIVE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Active"


def course_instructors_sync(*, context: LtiContext) -> dict:
    """Course assignments from the platform's member list (NRPS): instructors added, those gone unassigned.

    Only users who came through this platform are touched; assignments made by hand stay. An answer that names no
    active instructor changes nothing: a course is never taught by no one, so such a list is a failure (or a
    platform's mistake), and acting on it would take the course from its own instructors.
    """
    if not context.memberships_url:
        raise LtiException("This course's launches offered no Names and Role Provisioning Service.")
    registration = context.deployment.registration
    course_id = context_course_id(context=context)
    members = nrps_members(registration=registration, memberships_url=context.memberships_url)
    instructors = {m["user_id"]: m for m in members
                   if role_of(roles=list(m.get("roles") or [])) == Role.INSTRUCTOR
                   and m.get("status", "Active") in ("Active", NRPS_ACTIVE)}
    if not instructors:
        return {"course_id": course_id, "instructors": 0, "added": 0, "removed": 0}
    added = 0
    kept = set()
    for sub, member in instructors.items():
        user = lti_user_resolve(registration=registration, sub=sub, body=member)
        added += instructor_assign(user=user, course_id=course_id)
        kept.add(user.pk)
    platform_users = LtiUser.objects.filter(registration__issuer=registration.issuer,
                                            auth_user__isnull=False).values("auth_user")
    removed, _ = (CourseAssignment.objects.filter(course_id=course_id, instructor__in=platform_users)
                  .exclude(instructor__in=kept).delete())
    return {"course_id": course_id, "instructors": len(kept), "added": added, "removed": removed}


ACS_CLAIM = AP + "acs"
ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ACS_CONTENT_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
CONTROL_ACTIONS = ("pause", "resume", "terminate")  # what an instructor may send from the tool


def assessment_control_remember(*, session: ExamSession, registration: LtiRegistration, body: dict):
    """Keep where the platform takes control actions for this attempt, when its launch offered the service."""
    from .models import AssessmentControl

    acs = body.get(ACS_CLAIM)
    url = acs.get("assessment_control_url") if isinstance(acs, dict) else None
    if not (isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 1000):
        return None
    if url.startswith("http://") and (urlsplit(url).hostname or "") not in lti_settings["HTTP_HOSTS"]:
        return None  # the tool sends its token there: never in clear
    actions = [a for a in (acs.get("actions") or []) if isinstance(a, str)][:20]
    link = body.get(LTI + "resource_link") or {}
    control, _ = AssessmentControl.objects.update_or_create(session=session, defaults={
        "registration": registration, "issuer": body.get("iss", "")[:255], "sub": body["sub"][:255],
        "resource_link_id": str(link.get("id", ""))[:255], "attempt_number": attempt_number_of(body),
        "url": url, "actions": actions})
    if set(actions) & set(CONTROL_ACTIONS):  # the live view and the report link to the control page
        monitor_services.session_control_url_set(session=session, url=reverse("lti:control", args=[session.id]))
    return control


def assessment_control_send(*, session: ExamSession, action: str, by) -> Any:
    """Send a control action (pause, resume, terminate) about the session's attempt to its platform (ACS), with a
    client-credentials token; the action and the platform's answer are recorded on the session."""
    from django.utils import timezone

    from .models import ControlAction

    control = getattr(session, "assessment_control", None)
    if control is None:
        raise LaunchRefused("The platform of this exam offered no assessment control service.", 404)
    if action not in CONTROL_ACTIONS or action not in control.actions:
        raise LaunchRefused(f"The platform does not take the action {action[:20]!r} for this attempt.", 400)
    sent = ControlAction(control=control, action=action, requested_by=by)
    body = {"user": {"iss": control.issuer, "sub": control.sub}, "resource_link": {"id": control.resource_link_id},
            "attempt_number": control.attempt_number, "action": action,
            "incident_time": timezone.now().isoformat(timespec="seconds")}
    connector = LinkKeepingServiceConnector(control.registration.to_registration())
    try:
        # Checked before the platform's token is fetched or sent, as a member list's URL is (issue 25, low 8).
        platform = connector.service_session(url=control.url)
    except LtiException as exc:
        sent.error = f"The platform's control URL is refused: {exc}"[:300]
        sent.save()
        return sent
    try:
        token = connector.get_access_token([ACS_SCOPE])
        answer = platform.post(control.url, data=json.dumps(body), headers={
            "Authorization": f"Bearer {token}", "Content-Type": ACS_CONTENT_TYPE, "Accept": ACS_CONTENT_TYPE})
        sent.http_status = answer.status_code
        try:
            sent.answer = answer.json()
        except ValueError:
            sent.answer = None
        if not answer.ok:
            sent.error = f"The platform answered HTTP {answer.status_code}."
    except (LtiException, requests.RequestException) as exc:
        sent.error = f"The platform could not be reached: {type(exc).__name__}."[:300]
    sent.save()
    return sent

