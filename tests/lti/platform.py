"""A real LTI 1.3 platform on loopback for the tests, built on the lti1p3platform package: it starts logins,
answers the tool's OIDC authorization requests with id_tokens signed by its own key, serves its key set, an OAuth2
token endpoint and a member list (NRPS), and verifies the tool's LtiStartAssessment messages."""
from __future__ import annotations

import html
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
LEARNER = [MEMBERSHIP + "Learner"]
INSTRUCTOR = [MEMBERSHIP + "Instructor"]
TEACHING_ASSISTANT = ["http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"]
REMOVE = object()  # an override value that takes the claim out of the id_token
CLIENT_ID = "engagement-tool"
DEPLOYMENT_ID = "deployment-1"


def rsa_pem_pair() -> tuple[str, str]:
    """A new RSA key pair as (private, public) PEM strings."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class DictRequest(Request):
    """lti1p3platform's request, from the pieces of an http.server request."""

    def build_metadata(self, request):
        return request


class PlatformConfig(LTI1P3PlatformConfAbstract):
    """One registration: this platform and the tool under test."""

    def init_platform_config(self, **kwargs):
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs):
        return self._registration


class Login(OIDCLoginAbstract):
    """Third-party initiated login: a redirect to the tool's login URL."""

    def set_lti_message_hint(self, **kwargs):
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url):
        return url


@dataclass
class PendingLaunch:
    """What the platform will put in the id_token of one launch."""

    sub: str
    roles: list
    context_id: str | None = "course-v1:Uni+CS101+2026"
    resource_link_id: str = "final-exam"
    message_type: str = "LtiResourceLinkRequest"
    name: str = "Lea Martin"
    email: str = "lea@uni.example"
    extra: dict = field(default_factory=dict)  # claims added or replaced (REMOVE takes one out)
    expires_in: int = 300
    sign_with: str | None = None  # another private key: a signature the tool cannot verify
    client_id: str = CLIENT_ID
    deployment_id: str = DEPLOYMENT_ID
    issuer: str | None = None


class ToolLaunch(LTIAdvantageMessageLaunchAbstract):
    """A launch whose message type, claims and signature the test chooses."""

    def __init__(self, request, platform_config, pending: PendingLaunch):
        super().__init__(request, platform_config)
        self.pending = pending

    def get_launch_message(self, include_extra_claims=True):
        message = super().get_launch_message(include_extra_claims)
        message[LTI + "message_type"] = self.pending.message_type
        message["aud"] = message["azp"] = self.pending.client_id
        message[LTI + "deployment_id"] = self.pending.deployment_id
        if self.pending.issuer:
            message["iss"] = self.pending.issuer
        if self.pending.message_type == "LtiStartProctoring":  # a platform's token, returned unchanged by the tool
            message[AP + "session_data"] = "platform-session-data"
        for claim, value in self.pending.extra.items():
            if value is REMOVE:
                message.pop(claim, None)
            else:
                message[claim] = value
        return message

    def generate_launch_request(self):
        if self.pending.sign_with is None:
            return super().generate_launch_request()
        message, state = self.get_launch_data()
        headers = {"kid": self._registration.get_kid()}  # the platform's kid, another key's signature
        token = Registration.encode_and_sign(message, self.pending.sign_with, headers, self.id_token_expiration)
        return {"state": state, "id_token": token}

    def render_launch_form(self, launch_data, **kwargs):
        inputs = "".join(f'<input type="hidden" name="{name}" value="{html.escape(launch_data[name])}">'
                         for name in ("id_token", "state"))
        return (f'<html><body><form id="launch" method="post" action="{html.escape(launch_data["launch_url"])}">'
                f'{inputs}</form><script>document.getElementById("launch").submit();</script></body></html>')


class PlatformHandler(BaseHTTPRequestHandler):
    """A test platform's HTTP handler: quiet, with a reply helper and the posted form."""

    def log_message(self, *args):
        pass

    def _send(self, status, body, content_type="text/html", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        return dict(parse_qsl(self.rfile.read(length).decode()))


class LoopbackPlatform:
    """What a test platform's users do (launch, open a course page) and its server's end."""

    launch_type: type = None  # what a launch's fields make
    url: str
    pending: dict
    server: ThreadingHTTPServer
    # The key set's path, one per platform: the tool caches key sets by URL (in Redis on the scaled set-up, for
    # the whole run), and a later test's platform may get the same port.
    jwks_path: str = ""

    @property
    def jwks_url(self) -> str:
        """Where the platform publishes its key set."""
        return f"{self.url}{self.jwks_path}"

    def launch_url(self, **fields) -> str:
        """The URL a user's browser opens to launch the tool (the fields of a launch_type)."""
        hint = uuid.uuid4().hex
        self.pending[hint] = self.launch_type(**fields)
        return f"{self.url}/launch/{hint}"

    def course_url(self, **fields) -> str:
        """A course page on the platform that shows the launch in a frame."""
        return self.launch_url(**fields).replace("/launch/", "/course/")

    def stop(self):
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Platform(LoopbackPlatform):
    """The platform on http://localhost:<port>; `launch_url(...)` starts a launch as a user's click would."""

    launch_type = PendingLaunch

    def __init__(self, tool_url: str):
        self.tool_url = tool_url.rstrip("/")
        self.private_key, self.public_key = rsa_pem_pair()
        self.pending: dict[str, PendingLaunch] = {}
        self.id_tokens: list[dict] = []  # every launch form sent: {"id_token", "state"}
        self.started: list[dict] = []  # verified LtiStartAssessment messages
        self.members: dict[str, list[dict]] = {}  # NRPS member lists by context id
        self.jwks_path = f"/jwks/{uuid.uuid4().hex}"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://localhost:{self.server.server_address[1]}"
        self.registration = (Registration().set_iss(self.url).set_client_id(CLIENT_ID)
                             .set_deployment_id(DEPLOYMENT_ID).set_oidc_login_url(f"{self.tool_url}/lti/login/")
                             .set_launch_url(f"{self.tool_url}/lti/launch/")
                             .set_platform_public_key(self.public_key).set_platform_private_key(self.private_key)
                             .set_tool_key_set_url(f"{self.tool_url}/lti/jwks/"))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def config(self) -> PlatformConfig:
        """A platform configuration holding the registration (a fresh one: it caches the tool's key set)."""
        self.registration.set_tool_key_set(None)
        return PlatformConfig(registration=self.registration)

    def tool_registration(self) -> dict:
        """The values an administrator enters in the tool for this platform (django-lti's LtiRegistration)."""
        return {"name": "Test platform", "issuer": self.url, "client_id": CLIENT_ID, "auth_url": f"{self.url}/auth",
                "token_url": f"{self.url}/token", "keyset_url": self.jwks_url}


    # The HTTP side.

    def _handler(self):
        platform = self

        class Handler(PlatformHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                if parts.path.startswith("/launch/"):
                    hint = parts.path.rsplit("/", 1)[1]
                    pending = platform.pending[hint]
                    login = Login(None, platform.config())
                    login.set_lti_message_hint(hint=hint)
                    return self._send(302, "", headers=[("Location", login.initiate_login(pending.sub))])
                if parts.path.startswith("/course/"):  # a course page that embeds the launch, as an LMS may
                    hint = html.escape(parts.path.rsplit("/", 1)[1])
                    return self._send(200, f'<html><body><h1>CS101</h1><iframe id="tool" name="tool" src="/launch/{hint}" '
                                           'width="900" height="500"></iframe></body></html>')
                if parts.path == "/auth":
                    return self._auth(query)
                if parts.path == platform.jwks_path:
                    config = platform.config()
                    config.get_registration()
                    return self._send(200, json.dumps(config.get_jwks()), "application/json")
                if parts.path.startswith("/memberships/"):
                    return self._memberships(parts.path.split("/", 2)[2])
                return self._send(404, "not found")

            def do_POST(self):
                path = urlsplit(self.path).path
                if path == "/auth":
                    return self._auth(self._form())
                if path == "/start-assessment":
                    return self._start_assessment(self._form())
                if path == "/token":
                    config = platform.config()
                    config.get_registration()
                    try:
                        return self._send(200, json.dumps(config.get_access_token(self._form())), "application/json")
                    except Exception as exc:
                        return self._send(400, json.dumps({"error": str(exc)}), "application/json")
                return self._send(404, "not found")

            def _auth(self, params):
                pending = platform.pending.get(params.get("lti_message_hint", ""))
                if pending is None or params.get("login_hint") != pending.sub:
                    return self._send(400, "unknown login")
                request = DictRequest({"method": "GET", "get_data": params, "form_data": {}, "headers": {},
                                       "content_type": None, "path": "/auth", "json": None})
                launch = ToolLaunch(request, platform.config(), pending)
                launch.set_user_data(pending.sub, pending.roles, full_name=pending.name, email_address=pending.email)
                launch.set_resource_link_claim(pending.resource_link_id, title="Final exam")
                if pending.context_id is not None:
                    launch.set_launch_context_claim(pending.context_id, context_title="CS101")
                launch.set_id_token_expiration(pending.expires_in)
                form = launch.lti_launch()
                platform.id_tokens.append({name: html.unescape(re.search(
                    f'name="{name}" value="([^"]*)"', form).group(1)) for name in ("id_token", "state")})
                return self._send(200, form)

            def _start_assessment(self, form):
                config = platform.config()
                config.get_registration()
                try:
                    claims = config.tool_validate_and_decode(form.get("JWT", ""))
                    assert claims["iss"] == CLIENT_ID and claims["aud"] == platform.url, "wrong iss or aud"
                    assert claims[LTI + "message_type"] == "LtiStartAssessment", "wrong message type"
                    assert claims[LTI + "deployment_id"] == DEPLOYMENT_ID, "wrong deployment"
                except Exception as exc:
                    return self._send(400, f"<h1>Refused</h1><p id='reason'>{html.escape(str(exc))}</p>")
                platform.started.append(claims)
                return self._send(200, "<html><body><h1 id='started'>Assessment started</h1></body></html>")

            def _memberships(self, context_id):
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                config = platform.config()
                config.get_registration()
                try:
                    config.validate_token(token)
                except Exception:
                    return self._send(401, "bad token")
                body = {"id": f"{platform.url}/memberships/{context_id}", "context": {"id": context_id},
                        "members": platform.members.get(context_id, [])}
                return self._send(200, json.dumps(body), "application/vnd.ims.lti-nrps.v2.membershipcontainer+json")

        return Handler
