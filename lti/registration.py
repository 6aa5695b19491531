"""LTI Dynamic Registration 1.0: the tool reads a platform's OpenID configuration, registers itself there, and keeps
the registration and deployment inactive until an administrator of the tool approves them."""
from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.db import transaction
from lti_tool.models import LtiDeployment, LtiRegistration

from .conf import lti_settings
from .launch import TimeoutSession
from .services import LaunchRefused

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
TOOL_NAME = "Engagement proctoring"


def _url_allowed(url: object) -> bool:
    # https, or plain http to a host allowed for development (a platform on loopback): as start_assessment_url.
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return False
    return url.startswith("https://") or (urlsplit(url).hostname or "") in lti_settings["HTTP_HOSTS"]


def platform_configuration_read(*, url: str) -> dict:
    """The platform's OpenID configuration (Dynamic Registration 1.0, 3.4), checked: its issuer prefixes its URL."""
    if not _url_allowed(url):
        raise LaunchRefused("The openid_configuration URL must be an https URL of the platform.")
    try:
        answer = TimeoutSession().get(url, headers={"Accept": "application/json"})
        answer.raise_for_status()
        config = answer.json()
    except (requests.RequestException, ValueError) as exc:
        raise LaunchRefused(f"The platform's OpenID configuration could not be read ({type(exc).__name__}).") from None
    if not isinstance(config, dict):
        raise LaunchRefused("The platform's OpenID configuration is not a JSON object.")
    issuer = config.get("issuer")
    if not (isinstance(issuer, str) and issuer and url.startswith(issuer.rstrip("/"))):
        raise LaunchRefused("The platform's issuer does not match the URL of its OpenID configuration.")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        if not _url_allowed(config.get(name)):
            raise LaunchRefused(f"The platform's OpenID configuration has no valid {name}.")
    if not isinstance(config.get(PLATFORM_CONFIGURATION, {}), dict):
        raise LaunchRefused("The platform's LTI configuration is not an object.")
    return config


def tool_client_metadata(*, base_url: str, config: dict) -> dict:
    """What the tool registers (Dynamic Registration 1.0, 3.5): its URLs, key set, the messages it takes."""
    launch, login = f"{base_url}/lti/launch/", f"{base_url}/lti/login/"
    offered = config.get(PLATFORM_CONFIGURATION, {}).get("messages_supported") or []
    offered = {m.get("type") for m in offered if isinstance(m, dict)}
    messages = [{"type": "LtiDeepLinkingRequest", "target_link_uri": launch, "label": "A proctored exam"}]
    # Proctoring messages only where the platform lists them (most LMSs do not).
    messages += [{"type": kind} for kind in ("LtiStartProctoring", "LtiEndAssessment") if kind in offered]
    if offered:
        messages = [m for m in messages if m["type"] in offered]
    scopes = config.get("scopes_supported")
    return {
        "application_type": "web", "response_types": ["id_token"], "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": login, "redirect_uris": [launch], "client_name": TOOL_NAME,
        "jwks_uri": f"{base_url}/lti/jwks/", "token_endpoint_auth_method": "private_key_jwt",
        "scope": NRPS_SCOPE if not isinstance(scopes, list) or NRPS_SCOPE in scopes else "",
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base_url).netloc, "target_link_uri": launch, "messages": messages,
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
        },
    }


@transaction.atomic
def platform_register(*, config: dict, base_url: str, registration_token: str = "") -> LtiRegistration:
    """Register the tool with the platform, then record the registration and its deployment, both inactive."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    try:
        answer = TimeoutSession().post(config["registration_endpoint"], headers=headers,
                                       json=tool_client_metadata(base_url=base_url, config=config))
        answer.raise_for_status()
        registered = answer.json()
    except requests.HTTPError as exc:
        raise LaunchRefused(f"The platform refused the registration (HTTP {exc.response.status_code}).") from None
    except (requests.RequestException, ValueError) as exc:
        raise LaunchRefused("The platform's registration service could not be reached "
                            f"({type(exc).__name__}).") from None
    client_id = registered.get("client_id") if isinstance(registered, dict) else None
    if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
        raise LaunchRefused("The platform's registration answer has no client_id.")
    tool = registered.get(TOOL_CONFIGURATION) if isinstance(registered.get(TOOL_CONFIGURATION), dict) else {}
    deployment_id = tool.get("deployment_id")
    if LtiRegistration.objects.filter(issuer=config["issuer"], client_id=client_id).exists():
        raise LaunchRefused("This platform already registered the tool with that client ID.", 409)
    product = config.get(PLATFORM_CONFIGURATION, {}).get("product_family_code") or "LMS"
    registration = LtiRegistration.objects.create(
        name=f"{product} {config['issuer']}"[:255], issuer=config["issuer"][:255], client_id=client_id,
        auth_url=config["authorization_endpoint"], token_url=config["token_endpoint"],
        keyset_url=config["jwks_uri"], audience=(config.get("authorization_server") or "")[:255], is_active=False)
    if isinstance(deployment_id, (str, int)) and str(deployment_id):
        LtiDeployment.objects.create(registration=registration, deployment_id=str(deployment_id)[:255],
                                     is_active=False)
    return registration


def registration_approve(*, registration: LtiRegistration) -> LtiRegistration:
    """An administrator of the tool approves a registration: it and its deployments become active."""
    with transaction.atomic():
        registration.is_active = True
        registration.save(update_fields=["is_active"])
        registration.deployments.update(is_active=True)
    return registration

