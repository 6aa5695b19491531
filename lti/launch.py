"""LTI 1.3 message validation: PyLTI1p3's checks, plus one-time nonces, known deployments only, and the
LTI Proctoring Services messages (validators added beside PyLTI1p3's, without changing it)."""
from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from lti_tool.models import LtiDeployment
from lti_tool.utils import DjangoToolConfig
from pylti1p3.contrib.django import DjangoCacheDataStorage, DjangoMessageLaunch
from pylti1p3.deployment import Deployment
from pylti1p3.exception import LtiException
from pylti1p3.message_validators import get_validators
from pylti1p3.message_validators.abstract import MessageValidatorAbstract

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
            raise LtiException("session_data must be a string")
        return True


class StartProctoringValidator(_ProctoringValidator):
    """LtiStartProctoring (LTI Proctoring Services 1.0): a resource link, an attempt and where to start it."""

    message_type = START_PROCTORING

    def validate(self, jwt_body) -> bool:
        super().validate(jwt_body)
        url = jwt_body.get(AP + "start_assessment_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise LtiException("Missing or invalid start_assessment_url")
        # The learner's browser posts the signed start message there: never in clear, except to hosts allowed
        # for development (LTI_HTTP_HOSTS).
        if url.startswith("http://") and (urlsplit(url).hostname or "") not in settings.LTI["HTTP_HOSTS"]:
            raise LtiException("The start_assessment_url must be https")
        return True


class EndAssessmentValidator(_ProctoringValidator):
    """LtiEndAssessment (LTI Proctoring Services 1.0): the attempt of a resource link has ended."""

    message_type = END_ASSESSMENT


class ToolConfig(DjangoToolConfig):
    """django-lti's registrations, except that a deployment must have been entered by an administrator."""

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
        kwargs.setdefault("timeout", settings.LTI["HTTP_TIMEOUT"])
        return super().request(*args, **kwargs)


class MessageLaunch(DjangoMessageLaunch):
    """A launch validated as PyLTI1p3 does, and also: its nonce used once, and the proctoring message types."""

    def __init__(self, request, tool_config=None):
        super().__init__(request, tool_config or ToolConfig(), launch_data_storage=DjangoCacheDataStorage(),
                         requests_session=TimeoutSession())
        # The platform's key set is cached, not fetched at every launch.
        self.set_public_key_caching(DjangoCacheDataStorage(), cache_lifetime=settings.LTI["KEY_SET_CACHE_SECONDS"])

    def validate(self):
        """Validate as PyLTI1p3 does, then use the nonce up."""
        super().validate()
        # PyLTI1p3 checks that our login issued the nonce but lets it be used again: a replayed id_token
        # (same state, same nonce) would be accepted for a day. The first valid use wins; later ones are refused.
        body = self._get_jwt_body()
        used = hashlib.sha256(f"{body.get('iss')}\n{body['nonce']}".encode()).hexdigest()
        if not cache.add(f"lti.nonce-used.{used}", 1, timeout=settings.LTI["NONCE_SECONDS"]):
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
