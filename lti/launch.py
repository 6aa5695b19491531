"""LTI 1.3 message validation: PyLTI1p3's checks, plus one-time nonces, known deployments only, and the
LTI Proctoring Services messages (validators added beside PyLTI1p3's, without changing it)."""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import jwt
import requests
from requests.utils import parse_header_links
from django.core.cache import cache
from lti_tool.models import LtiDeployment, LtiRegistration
from monitor.api import UnsafeUrl, pinned_session, public_url_check
from lti_tool.utils import DjangoToolConfig
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException
from pylti1p3.launch_data_storage.base import DisableSessionId
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.message_validators import get_validators
from pylti1p3.message_validators.abstract import MessageValidatorAbstract
from pylti1p3.service_connector import ServiceConnector

from .conf import lti_settings

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
MESSAGE_TYPE = LTI + "message_type"
START_PROCTORING = "LtiStartProctoring"
END_ASSESSMENT = "LtiEndAssessment"
START_ASSESSMENT = "LtiStartAssessment"


def attempt_number_of(body: dict) -> int:
    """The attempt number claim of a proctoring message, as an integer of at least 1."""
    value = body.get(AP + "attempt_number")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LtiException("Missing or invalid attempt_number (a whole number from 1)")
    return value


class _ProctoringValidator(MessageValidatorAbstract):
    message_type = ""

    def can_validate(self, jwt_body) -> bool:
        return jwt_body.get(MESSAGE_TYPE) == self.message_type

    def validate(self, jwt_body) -> bool:
        self.run_common_validators(jwt_body)
        link = jwt_body.get(LTI + "resource_link")
        if not isinstance(link, dict) or not link.get("id"):
            raise LtiException("Missing Resource Link Id")
        attempt_number_of(jwt_body)
        session_data = jwt_body.get(AP + "session_data")
        if session_data is not None and not isinstance(session_data, str):
            raise LtiException("Missing or invalid session_data (it must be a string)")
        return True


class StartProctoringValidator(_ProctoringValidator):
    """LtiStartProctoring (LTI Proctoring Services 1.0): a resource link, an attempt and where to start it."""

    message_type = START_PROCTORING

    def validate(self, jwt_body) -> bool:
        super().validate(jwt_body)
        # Proctoring Services 1.0: the platform's session_data, which the start message must return unchanged.
        if not isinstance(jwt_body.get(AP + "session_data"), str):
            raise LtiException("Missing or invalid session_data (a string the platform sends with the attempt)")
        url = jwt_body.get(AP + "start_assessment_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise LtiException("Missing or invalid start_assessment_url")
        # The learner's browser posts the signed start message there: never in clear, except to hosts allowed
        # for development (LTI_HTTP_HOSTS).
        if url.startswith("http://") and (urlsplit(url).hostname or "") not in lti_settings["HTTP_HOSTS"]:
            raise LtiException("The start_assessment_url must be https")
        return True


class EndAssessmentValidator(_ProctoringValidator):
    """LtiEndAssessment (LTI Proctoring Services 1.0): the attempt of a resource link has ended."""

    message_type = END_ASSESSMENT


class ToolConfig(DjangoToolConfig):
    """django-lti's registrations, except that a deployment must have been entered by an administrator."""

    def find_registration_by_params(self, iss, client_id, *args, **kwargs):
        if client_id:
            return super().find_registration_by_params(iss, client_id, *args, **kwargs)
        # client_id is optional in a login initiation (LTI Security Framework 5.1.1.1): the registration's own
        # login URL names it, or the issuer has one registration only.
        rows = LtiRegistration.objects.active().filter(issuer=iss)
        if self.registration_uuid is not None:
            rows = rows.filter(uuid=self.registration_uuid)
        found = list(rows[:2])
        if len(found) != 1:
            return None
        self.registration = found[0]
        return self.registration.to_registration()

    def find_deployment(self, iss, deployment_id):
        return self._known(registration__uuid=self.registration_uuid, registration__issuer=iss,
                           deployment_id=deployment_id)

    def find_deployment_by_params(self, iss, deployment_id, client_id, *args, **kwargs):
        lookups = {"registration__issuer": iss, "registration__client_id": client_id, "deployment_id": deployment_id}
        if self.registration_uuid is not None:
            lookups["registration__uuid"] = self.registration_uuid
        return self._known(**lookups)

    def _known(self, **lookups):
        # django-lti creates an unknown deployment (inactive) on first launch; a launch from a deployment nobody
        # registered creates nothing here.
        self.deployment = LtiDeployment.objects.filter(registration__is_active=True, **lookups).first()
        return Deployment().set_deployment_id(self.deployment.deployment_id) if self.deployment else None


class TimeoutSession(requests.Session):
    """Requests to the platform (its key set) that give up after LTI_HTTP_TIMEOUT seconds."""

    def request(self, *args, **kwargs):
        kwargs.setdefault("timeout", lti_settings["HTTP_TIMEOUT"])
        return super().request(*args, **kwargs)


class ServiceSession(TimeoutSession):
    """Requests to a platform's services (token, member lists, assessment control): a redirect is refused, not
    followed, since only the URL asked was checked and pinned (`service_url_check`), never where it points."""

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        response = super().request(*args, **kwargs)
        if response.is_redirect:
            response.close()
            raise LtiException(f"The platform answered HTTP {response.status_code}, a redirect, which is not "
                               "followed: give the service's own URL.")
        return response


KEY_NOT_FOUND = "Unable to find public key"
# Public-key signatures: a key set's key checks them (RS256 is the one every platform uses).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
STATE_NOT_FOUND = "State not found"
STORAGE_KEY = "lti.platform-storage.{state}"
STORAGE_CHECKED = "lti_storage_checked"  # the field the platform-storage page adds when it posts the launch again


class LaunchDataStorage(DjangoCacheDataStorage):
    """PyLTI1p3's cache storage keyed by the (unguessable) nonce alone, never by a cookie of its own: a framed
    launch whose browser refuses third-party cookies still finds the nonce its login issued (the state is checked
    by a cookie or by the platform's storage)."""

    def get_session_cookie_name(self):
        return None


class PlatformStorageCheck(Exception):
    """The launch's state is in the platform's storage, not in a cookie: the browser must read it from there."""

    def __init__(self, *, state: str, nonce: str, target: str, origin: str):
        super().__init__(state)
        self.state, self.nonce, self.target, self.origin = state, nonce, target, origin


def platform_storage_remember(*, state: str, nonce: str, target: str, origin: str) -> None:
    """Remember that a login kept its state and nonce in the platform's storage (LTI Client Side postMessages)."""
    cache.set(STORAGE_KEY.format(state=state), {"nonce": nonce, "target": target, "origin": origin},
              timeout=lti_settings["CONTINUE_SECONDS"])


def _same_host(url: object, host: str) -> bool:
    return isinstance(url, str) and urlsplit(url).netloc.lower() == host.lower()


def target_link_uri_check(*, url: object, host: str) -> None:
    """Refuse a target_link_uri that is not on this tool's host: a launch is meant for another tool."""
    if not _same_host(url, host):
        raise LtiException(f"The target_link_uri is not on this tool's host ({host})")


def _drop_nulls(claims: dict) -> None:
    for name, value in list(claims.items()):
        if value is None:
            del claims[name]
        elif isinstance(value, dict):
            _drop_nulls(value)


class MessageLaunch(DjangoMessageLaunch):
    """A launch validated as PyLTI1p3 does, and also: its nonce used once, the proctoring message types, `aud`
    arrays with `azp`, `exp` and `iat` required, the target on this host, and a rotated platform key found."""

    def __init__(self, request, tool_config=None):
        super().__init__(request, tool_config or ToolConfig(), launch_data_storage=LaunchDataStorage(),
                         requests_session=TimeoutSession())
        self._host = request.get_host()
        # Posted by this tool's own page (platform storage checked there): the browser says so, pages cannot.
        origin = request.headers.get("Origin") or ""
        self._from_own_page = (urlsplit(origin).netloc.lower() == self._host.lower()
                               and request.headers.get("Sec-Fetch-Site", "same-origin") == "same-origin")
        self._storage_state = None
        # The platform's key set is cached, not fetched at every launch.
        self.set_public_key_caching(DjangoCacheDataStorage(), cache_lifetime=lti_settings["KEY_SET_CACHE_SECONDS"])
        # PyJWT checks exp only when present; LTI Security Framework 5.1.3 requires both.
        self.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})

    def get_client_id(self) -> str:
        """The client id the id_token is for: `aud`, or `azp` when `aud` lists several (OIDC Core 3.1.3.7)."""
        body = self._get_jwt_body()
        aud, azp = body.get("aud"), body.get("azp")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        if isinstance(aud, str) and aud:
            if azp is not None and azp != aud:
                raise LtiException("The azp claim is not the audience of the id_token")
            return aud
        if not (isinstance(aud, list) and aud and all(isinstance(a, str) for a in aud)):
            raise LtiException("Missing or invalid aud claim")
        if not isinstance(azp, str) or azp not in aud:
            raise LtiException("An id_token for several audiences must name this tool's client id in azp")
        return azp

    def validate_jwt_signature(self):
        """Check the id_token's signature and times as PyLTI1p3 does, with LTI["CLOCK_SKEW_SECONDS"] of leeway."""
        id_token = self._get_id_token()
        try:
            algorithm = jwt.get_unverified_header(id_token).get("alg")
        except jwt.InvalidTokenError as exc:
            raise LtiException(f"Can't decode id_token: {exc}") from exc
        # Security Framework 5.1.3 and 6.1: signed with the platform's private key; a symmetric or absent signature
        # is not the platform's, whatever key it names.
        if algorithm not in SIGNING_ALGORITHMS:
            raise LtiException(f"The id_token is signed with {str(algorithm)[:16]!r}: only "
                               f"{', '.join(SIGNING_ALGORITHMS)} are accepted")
        public_key, key_algorithm = self.get_public_key()
        try:
            jwt.decode(id_token, public_key, algorithms=[key_algorithm], options=self._jwt_verify_options,
                       leeway=lti_settings["CLOCK_SKEW_SECONDS"])
        except jwt.InvalidTokenError as exc:
            raise LtiException(f"Can't decode id_token: {exc}") from exc
        return self

    def get_public_key(self):
        """The platform's key for the token's kid; an unknown kid fetches the key set once more (rate-limited)."""
        cached = self._registration.get_key_set() is None  # a key set fetched from the URL, maybe stale
        try:
            return super().get_public_key()
        except LtiException as exc:
            if str(exc) != KEY_NOT_FOUND or not cached:
                raise
        # A platform that rotated its key signs with a kid our cached set lacks. One fetch per key set and
        # period, so that tokens with made-up kids cannot make the tool hammer the platform.
        url = self._registration.get_key_set_url()
        period = lti_settings["KEY_SET_REFETCH_SECONDS"]
        if not cache.add(f"lti.key-set-refetched.{hashlib.sha256(url.encode()).hexdigest()}", 1, timeout=period):
            raise LtiException(f"{KEY_NOT_FOUND} (the platform's key set was fetched again less than {period} s "
                               "ago)")
        storage, self._public_key_cache_data_storage = self._public_key_cache_data_storage, None
        try:
            key_set = self.fetch_public_key(url)
        finally:
            self._public_key_cache_data_storage = storage
        with DisableSessionId(storage):  # stored where PyLTI1p3 reads it (the key of fetch_public_key)
            storage.set_value("key-set-url-" + hashlib.md5(url.encode()).hexdigest(), key_set,
                              self._public_key_cache_lifetime)
        self._registration.set_key_set(key_set)
        return super().get_public_key()

    def validate_state(self):
        """The state from the cookie set at login, or else from the platform's storage (read by the browser)."""
        try:
            return super().validate_state()
        except LtiException as exc:
            state = self._get_request_param("state")
            if str(exc) != STATE_NOT_FOUND or not isinstance(state, str) or len(state) > 200:
                raise
            pending = cache.get(STORAGE_KEY.format(state=state))
            if pending is None:
                raise
            if self._get_request_param(STORAGE_CHECKED) and self._from_own_page:
                self._storage_state = state
                return self
            raise PlatformStorageCheck(state=state, **pending) from None

    def validate(self):
        """Validate as PyLTI1p3 does, then use the nonce up."""
        super().validate()
        # Canvas sends null for claims it has no value for (a context label, a picture, a return URL): they mean
        # "absent", and django-lti's records would refuse a null where it keeps a string.
        _drop_nulls(self._jwt["body"])
        if self._storage_state is not None:
            cache.delete(STORAGE_KEY.format(state=self._storage_state))
        # PyLTI1p3 checks that our login issued the nonce but lets it be used again: a replayed id_token
        # (same state, same nonce) would be accepted for a day. The first valid use wins; later ones are refused.
        body = self._get_jwt_body()
        used = hashlib.sha256(f"{body.get('iss')}\n{body['nonce']}".encode()).hexdigest()
        if not cache.add(f"lti.nonce-used.{used}", 1, timeout=lti_settings["NONCE_SECONDS"]):
            raise LtiException("This launch was already used (replayed nonce)")
        return self

    def validate_message(self):
        body = self._get_jwt_body()
        if not body.get(MESSAGE_TYPE):
            raise LtiException("Invalid message type")
        validators = [v for v in [*get_validators(), StartProctoringValidator(), EndAssessmentValidator()]
                      if v.can_validate(body)]
        if not validators:
            raise LtiException(f"Unrecognized message type {str(body.get(MESSAGE_TYPE))[:64]!r}")
        for validator in validators:
            validator.validate(body)
        if LTI + "target_link_uri" in body or body.get(MESSAGE_TYPE) == "LtiResourceLinkRequest":
            target_link_uri_check(url=body.get(LTI + "target_link_uri"), host=self._host)
        return self

    def get_message_type(self) -> str:
        """The message type claim."""
        return self._get_jwt_body().get(MESSAGE_TYPE)

    def get_deployment(self) -> LtiDeployment:
        """The deployment (django-lti's row) the launch came through."""
        return self._tool_config.deployment

    def get_registration_row(self):
        """The registration (django-lti's row) of the launch's platform and client id."""
        return self._tool_config.registration


def service_url_check(*, url: str) -> str:
    """Refuse a platform's service URL (a member list, its next page) that is not https on a public address: the
    request carries the platform's token, and a URL the launch names must not reach the tool's own network.

    Hosts in LTI["HTTP_HOSTS"] may use http, those in LTI["INTERNAL_HOSTS"] may be internal (development, tests).
    Answers the address checked, the one the request must connect to.
    """
    host = (urlsplit(url).hostname or "").lower()
    schemes = ("https", "http") if host in lti_settings["HTTP_HOSTS"] else ("https",)
    try:
        return public_url_check(url=url, internal_hosts=lti_settings["INTERNAL_HOSTS"], schemes=schemes,
                                what="platform's service", setting="LTI_INTERNAL_HOSTS")
    except UnsafeUrl as exc:
        raise LtiException(str(exc)) from exc


class LinkKeepingServiceConnector(ServiceConnector):
    """PyLTI1p3's service connector, except that the next page's URL is taken from the Link header as sent.

    PyLTI1p3 2.0 lowercases the whole header before reading it, which breaks opaque paging cursors and mixed-case
    paths (`?cursor=AbC` is requested as `?cursor=abc`).
    """

    def __init__(self, registration):
        session, self._pins = pinned_session(session=ServiceSession())
        super().__init__(registration, requests_session=session)

    def service_session(self, *, url: str) -> requests.Session:
        """The connector's session, for a platform's service `url` checked by `service_url_check` and pinned to the
        address checked (a DNS answer in between cannot turn it to the tool's own network)."""
        self._pins.pin(url=url, address=service_url_check(url=url))
        return self._requests_session

    def make_service_request(self, scopes, url, *args, **kwargs):
        """The request as PyLTI1p3 makes it, to a checked URL only (`service_url_check`: every page's, before the
        platform's token is fetched or sent) and over a connection to the address checked (no DNS rebinding in
        between), with `next_page_url` read from the Link header case-preserved."""
        self.service_session(url=url)
        as_sent = kwargs.get("case_insensitive_headers", False)
        answer = super().make_service_request(scopes, url, *args, **{**kwargs, "case_insensitive_headers": True})
        links = parse_header_links(answer["headers"].get("Link", "").replace("\n", " "))
        answer["next_page_url"] = next((link["url"] for link in links
                                        if "next" in link.get("rel", "").lower().split()), None)
        if not as_sent:
            answer["headers"] = dict(answer["headers"])
        return answer


def nrps_members(*, registration: LtiRegistration, memberships_url: str) -> list[dict]:
    """Every member of a course's list (Names and Role Provisioning Services 2.0), page after page."""
    service = NamesRolesProvisioningService(LinkKeepingServiceConnector(registration.to_registration()),
                                            {"context_memberships_url": memberships_url})
    return list(service.get_members())

