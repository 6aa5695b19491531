"""An LTI 1.3 platform for the tests written from the 1EdTech specifications alone (Security Framework 1.0, LTI Core
1.3, NRPS 2.0, Proctoring Services 1.0, Client Side postMessages), with PyJWT and cryptography: keys it rotates, its
key set, login initiation, the OIDC authorization endpoint, a client-credentials token endpoint, member lists in
pages, the start_assessment_url, and a course page with a storage frame. Claims are shaped as Moodle 4.x, Canvas
or Open edX send them (`shape`)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.lti.platform import LoopbackPlatform, PlatformHandler

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
AP = "https://purl.imsglobal.org/spec/lti-ap/claim/"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ACS_SCOPE = "https://purl.imsglobal.org/spec/lti-ap/scope/control.all"
ACS_TYPE = "application/vnd.ims.lti-ap.v1.control+json"
REMOVE = object()  # an override value that takes the claim out of the id_token
CLIENT_ID = "spec-tool"


def overridden(values: dict, overrides: dict) -> dict:
    """The values with the overrides applied (REMOVE takes one out)."""
    values = {**values, **overrides}
    return {name: value for name, value in values.items() if value is not REMOVE}


def _b64json(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _b64(number: int) -> str:
    data = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    """One RSA key of the platform: its kid, its private key, its public JWK (RFC 7517)."""

    kid: str
    private: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def new(cls) -> "SigningKey":
        """A fresh 2048-bit key with a random kid."""
        return cls(kid=uuid.uuid4().hex, private=rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict:
        """The public half as a JWK."""
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "e": _b64(numbers.e),
                "n": _b64(numbers.n)}


@dataclass
class Launch:
    """What one launch will carry: who, which message, the shape of platform it copies, and overrides."""

    sub: str
    roles: list
    message_type: str = "LtiResourceLinkRequest"
    context_id: str = "course-v1:edX+Proctor+2026"
    resource_link_id: str = "block-v1:edX+Proctor+2026+type@sequential+block@final"
    extra: dict = field(default_factory=dict)  # claims added or replaced (REMOVE takes one out)
    login: dict = field(default_factory=dict)  # login initiation parameters added or replaced (REMOVE takes out)
    kid: str | None = None  # a kid to put in the header instead of the signing key's own
    # "none" (unsigned) or "HS256" keyed with the public key's PEM, as a forger would: not the platform's signature.
    forged_alg: str | None = None


class SpecPlatform(LoopbackPlatform):
    """The platform on http://127.0.0.1:<port> (another site than the tool on localhost, as an LMS is); its course
    page frames the launch beside a storage frame, as Canvas's does."""

    launch_type = Launch

    def __init__(self, tool_url: str, *, shape: str = "openedx", deployment_id: str = "1", port: int = 0):
        self.tool_url = tool_url.rstrip("/")
        self.shape, self.deployment_id = shape, deployment_id
        self.keys = [SigningKey.new()]  # the last one signs; the key set lists them all
        self.pending: dict[str, Launch] = {}
        self.jwks_requests = 0
        self.id_tokens: list[dict] = []  # each form posted to the tool: {"id_token", "state"}
        self.started: list[dict] = []  # verified LtiStartAssessment messages
        self.deep_links: list[dict] = []  # verified LtiDeepLinkingResponse messages
        self.registration_token = "reg-" + secrets.token_urlsafe(8)  # Dynamic Registration's one-time token
        self.controls: list[dict] = []  # ACS requests received (their JSON bodies)
        self.registered: list[dict] = []  # the tools' client metadata posted to the registration endpoint
        self.tokens: dict[str, str] = {}  # access token -> its scope
        self.members: dict[str, list[dict]] = {}
        self.page_size = 2
        self.login_path = "/lti/login/"  # the tool's login initiation URL (or a registration's own)
        self.member_requests: list[str] = []  # the paths (with queries) of every member-list request
        self.jwks_path = f"/jwks/{secrets.token_hex(8)}"
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # What an administrator does.

    def tool_registration(self) -> dict:
        """The values an administrator enters in the tool for this platform (django-lti's LtiRegistration)."""
        return {"name": f"Spec platform ({self.shape})", "issuer": self.url, "client_id": CLIENT_ID,
                "auth_url": f"{self.url}/auth", "token_url": f"{self.url}/token", "keyset_url": self.jwks_url}

    def rotate(self, *, keep_old: bool = True) -> None:
        """A new signing key (a new kid); the old one stays in the key set or goes."""
        self.keys = (self.keys if keep_old else []) + [SigningKey.new()]

    def openid_configuration(self) -> dict:
        """The platform's OpenID configuration (Dynamic Registration 1.0, 3.4), as Moodle 4.x shapes it."""
        return {
            "issuer": self.url, "token_endpoint": f"{self.url}/token", "authorization_endpoint": f"{self.url}/auth",
            "jwks_uri": self.jwks_url, "registration_endpoint": f"{self.url}/register",
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", NRPS_SCOPE], "response_types_supported": ["id_token"],
            "subject_types_supported": ["public", "pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": self.shape, "version": "4.4",
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
            },
        }

    def login_parameters(self, hint: str) -> dict:
        """Third-party initiated login (Security Framework 5.1.1.1), as the shape's platform sends it."""
        launch = self.pending[hint]
        params = {"iss": self.url, "login_hint": launch.sub, "target_link_uri": f"{self.tool_url}/lti/launch/",
                  "lti_message_hint": hint, "client_id": CLIENT_ID, "lti_deployment_id": self.deployment_id}
        if self.shape == "canvas":
            params.update(canvas_environment="prod", canvas_region="not_configured",
                          lti_storage_target="post_message_forwarding")
        return overridden(params, launch.login)

    def claims(self, launch: Launch, *, nonce: str) -> dict:
        """The id_token's claims (LTI Core 5.3 and 5.4), in the shape's way."""
        now = int(time.time())
        body = {
            "iss": self.url, "aud": CLIENT_ID, "azp": CLIENT_ID, "sub": launch.sub, "iat": now, "exp": now + 3600,
            "nonce": nonce, LTI + "message_type": launch.message_type, LTI + "version": "1.3.0",
            LTI + "deployment_id": self.deployment_id, LTI + "target_link_uri": f"{self.tool_url}/lti/launch/",
            LTI + "roles": launch.roles, LTI + "resource_link": {"id": launch.resource_link_id, "title": "Final"},
            LTI + "context": {"id": launch.context_id, "title": "Proctoring 101"},
        }
        if self.shape == "moodle":
            body.update({"name": "Lea Martin", "given_name": "Lea", "family_name": "Martin",
                         "email": "lea@moodle.example", LTI + "lis": {"person_sourcedid": "", "course_section_sourcedid": ""},
                         LTI + "tool_platform": {"product_family_code": "moodle", "version": "2024042200",
                                                 "guid": "moodle.uni.example", "name": "Uni Moodle"},
                         LTI + "launch_presentation": {"locale": "en", "document_target": "window",
                                                       "return_url": f"{self.url}/mod/lti/return.php"},
                         LTI + "custom": {}})
            body[LTI + "context"].update(label="P101", type=["CourseSection"])
        elif self.shape == "canvas":
            body.update({"name": "Lea Martin", "email": "lea@canvas.example", "picture": None, "locale": "en",
                         LTI + "lis": {"person_sourcedid": None, "course_offering_sourcedid": None},
                         LTI + "tool_platform": {"guid": "canvas-guid:canvas-lms", "name": "Uni",
                                                 "version": "cloud", "product_family_code": "canvas"},
                         LTI + "launch_presentation": {"document_target": "iframe", "return_url": None,
                                                       "locale": "en", "height": 400, "width": 800},
                         LTI + "custom": {}, LTI + "lti11_legacy_user_id": launch.sub,
                         "https://www.instructure.com/placement": None, "errors": {"errors": {}}})
            body[LTI + "context"].update(label=None, type=["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"])
        elif launch.message_type != "LtiStartProctoring" and launch.message_type != "LtiEndAssessment":
            body.update({"name": "Lea Martin", "email": "lea@openedx.example"})
        if launch.message_type == "LtiStartProctoring":
            # Proctoring Services 1.0: the platform's session_data (lti-consumer-xblock: a random 32-character
            # anti-CSRF token), which the tool's LtiStartAssessment returns unchanged.
            body[AP + "session_data"] = secrets.token_hex(16)
        return overridden(body, launch.extra)

    def sign(self, body: dict, *, kid: str | None = None, forged_alg: str | None = None) -> str:
        """The claims signed RS256 with the newest key (its kid in the header, or the kid given), or forged."""
        key = self.keys[-1]
        if forged_alg is None:
            return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": kid or key.kid})
        # PyJWT will not make these (rightly): built by hand, as an attacker would.
        header = {"typ": "JWT", "alg": forged_alg, "kid": kid or key.kid}
        signing_input = ".".join(_b64json(part) for part in (header, body))
        signature = b""
        if forged_alg == "HS256":
            public_pem = key.private.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
            signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"

    def _tool_claims(self, token: str, *, audience: str) -> dict:
        # A tool's JWT (its LtiStartAssessment, its client assertion), checked with the tool's own key set.
        keys = requests.get(f"{self.tool_url}/lti/jwks/", timeout=10).json()
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = next(k for k in keys["keys"] if k.get("kid") == kid)
        return jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"], audience=audience,
                          options={"require": ["exp", "iat", "iss", "aud"]})

    # The HTTP side.

    def _handler(self):  # noqa: C901  (one small server)
        platform = self

        class Handler(PlatformHandler):
            def do_GET(self):
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query))
                if parts.path.startswith("/launch/"):
                    params = platform.login_parameters(parts.path.rsplit("/", 1)[1])
                    return self._send(302, "", headers=[("Location", f"{platform.tool_url}{platform.login_path}?"
                                                                     f"{urlencode(params)}")])
                if parts.path.startswith("/course/"):
                    return self._course(html.escape(parts.path.rsplit("/", 1)[1]))
                if parts.path == "/.well-known/openid-configuration":
                    return self._send(200, json.dumps(platform.openid_configuration()), "application/json")
                if parts.path == "/storage":
                    return self._send(200, STORAGE_FRAME)
                if parts.path == "/auth":
                    return self._auth(query)
                if parts.path == platform.jwks_path:
                    platform.jwks_requests += 1
                    return self._send(200, json.dumps({"keys": [k.jwk() for k in platform.keys]}), "application/json")
                if parts.path.startswith("/nrps/"):
                    return self._members(parts.path.split("/", 2)[2], query)
                return self._send(404, "not found")

            def do_POST(self):
                if urlsplit(self.path).path == "/register":
                    return self._register()
                if urlsplit(self.path).path == "/acs":
                    return self._acs()
                route = {"/auth": self._auth, "/token": self._token, "/start-assessment": self._start_assessment,
                         "/deep-link-return": self._deep_link_return}.get(urlsplit(self.path).path)
                return route(self._form()) if route else self._send(404, "not found")

            def _course(self, hint):
                # Canvas's page: the tool's frame and a hidden frame that keeps data for it (platform storage).
                return self._send(200, f'<html><body><h1>Proctoring 101</h1><iframe name="post_message_forwarding" '
                                       f'src="/storage" hidden></iframe><iframe id="tool" name="tool" src="/launch/{hint}" '
                                       'width="900" height="500"></iframe></body></html>')

            def _auth(self, params):
                # Authentication request checks (Security Framework 5.1.1.2 and 5.1.1.3).
                launch = platform.pending.get(params.get("lti_message_hint", ""))
                expected = {"scope": "openid", "response_type": "id_token", "response_mode": "form_post",
                            "prompt": "none", "client_id": CLIENT_ID,
                            "redirect_uri": f"{platform.tool_url}/lti/launch/"}
                wrong = [name for name, value in expected.items() if params.get(name) != value]
                if launch is None or params.get("login_hint") != launch.sub or not params.get("nonce") or wrong:
                    return self._send(400, f"invalid_request {wrong}")
                token = platform.sign(platform.claims(launch, nonce=params["nonce"]), kid=launch.kid,
                                      forged_alg=launch.forged_alg)
                form = {"id_token": token, "state": params.get("state", "")}
                platform.id_tokens.append(form)
                inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in form.items())
                return self._send(200, f'<html><body><form id="f" method="post" action="{params["redirect_uri"]}">'
                                       f'{inputs}</form><script>document.getElementById("f").submit()</script>'
                                       '</body></html>')

            def _token(self, form):
                # Client credentials with a signed JWT (Security Framework 4.1).
                try:
                    assert form.get("grant_type") == "client_credentials", "grant_type"
                    assert form.get("client_assertion_type") == \
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion_type"
                    claims = platform._tool_claims(form.get("client_assertion", ""), audience=f"{platform.url}/token")
                    assert claims["iss"] == claims["sub"] == CLIENT_ID, "iss/sub"
                except Exception as exc:  # noqa: BLE001  (any failure is the client's: an OAuth2 error)
                    return self._send(400, json.dumps({"error": "invalid_client", "detail": str(exc)}),
                                      "application/json")
                token = secrets.token_urlsafe(24)
                platform.tokens[token] = form.get("scope", "")
                return self._send(200, json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                                   "scope": form.get("scope", "")}), "application/json")

            def _members(self, context_id, query):
                # NRPS 2.0 with opaque, case-sensitive cursors in the Link header (RFC 8288).
                platform.member_requests.append(self.path)
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if NRPS_SCOPE not in platform.tokens.get(token, "").split():
                    return self._send(401, "bad token")
                members = platform.members.get(context_id, [])
                cursors = {f"Pg{n}_AbC{n * 7}x": n for n in range(1, 100)}
                page = cursors.get(query.get("cursor", ""), 0) if "cursor" in query else 0
                if "cursor" in query and query["cursor"] not in cursors:
                    return self._send(400, "unknown cursor")
                size = platform.page_size
                chunk = members[page * size:(page + 1) * size]
                headers = []
                if (page + 1) * size < len(members):
                    headers.append(("Link", f'<{platform.url}/nrps/{context_id}?cursor=Pg{page + 1}_AbC'
                                            f'{(page + 1) * 7}x>; rel="next"'))
                body = {"id": f"{platform.url}/nrps/{context_id}", "context": {"id": context_id}, "members": chunk}
                return self._send(200, json.dumps(body), "application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
                                  headers)

            def _acs(self):
                # Assessment Control Service (Proctoring Services 1.0, section 5).
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if ACS_SCOPE not in platform.tokens.get(token, "").split():
                    return self._send(401, json.dumps({"error": "invalid_token"}), "application/json")
                if self.headers.get("Content-Type") != ACS_TYPE:
                    return self._send(415, "", "text/plain")
                control = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                platform.controls.append(control)
                status = {"pause": "paused", "resume": "active", "terminate": "terminated"}.get(control.get("action"))
                if status is None:
                    return self._send(400, json.dumps({"error": "unsupported_action"}), ACS_TYPE)
                return self._send(200, json.dumps({"status": status}), ACS_TYPE)

            def _register(self):
                # Client registration (Dynamic Registration 1.0, 3.5 and 3.6).
                if self.headers.get("Authorization") != f"Bearer {platform.registration_token}":
                    return self._send(401, json.dumps({"error": "invalid_token"}), "application/json")
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    metadata = json.loads(self.rfile.read(length))
                    tool = metadata["https://purl.imsglobal.org/spec/lti-tool-configuration"]
                    assert metadata["initiate_login_uri"] == f"{platform.tool_url}/lti/login/", "login"
                    assert f"{platform.tool_url}/lti/launch/" in metadata["redirect_uris"], "redirect_uris"
                    assert metadata["jwks_uri"] == f"{platform.tool_url}/lti/jwks/", "jwks_uri"
                    assert metadata["token_endpoint_auth_method"] == "private_key_jwt", "auth method"
                    assert tool["domain"] and tool["target_link_uri"], "tool configuration"
                except (ValueError, KeyError, TypeError, AssertionError) as exc:
                    return self._send(400, json.dumps({"error": "invalid_client_metadata", "detail": str(exc)}),
                                      "application/json")
                platform.registered.append(metadata)
                answer = {**metadata, "client_id": CLIENT_ID,
                          "https://purl.imsglobal.org/spec/lti-tool-configuration": {
                              **tool, "deployment_id": platform.deployment_id}}
                return self._send(200, json.dumps(answer), "application/json")

            def _tool_message(self, form, message_type, received, done):
                # A tool-originating message posted by the learner's browser (Security Framework 5.2.3).
                try:
                    claims = platform._tool_claims(form.get("JWT", ""), audience=platform.url)
                    assert claims["iss"] == CLIENT_ID, "iss"
                    assert claims[LTI + "message_type"] == message_type, "message type"
                    assert claims[LTI + "deployment_id"] == platform.deployment_id, "deployment"
                    if message_type == "LtiStartAssessment":
                        assert isinstance(claims.get(AP + "attempt_number"), int), "attempt_number"
                except Exception as exc:  # noqa: BLE001
                    return self._send(400, f"<h1>Refused</h1><p id='reason'>{html.escape(str(exc))}</p>")
                received.append({**claims, "received_at": time.perf_counter()})
                return self._send(200, f"<html><body><h1 id='done'>{done}</h1></body></html>")

            def _start_assessment(self, form):
                # The tool's LtiStartAssessment (Proctoring Services 1.0, 4.2).
                return self._tool_message(form, "LtiStartAssessment", platform.started, "Assessment started")

            def _deep_link_return(self, form):
                # The tool's LtiDeepLinkingResponse (Deep Linking 2.0, 4.2).
                return self._tool_message(form, "LtiDeepLinkingResponse", platform.deep_links, "Added to the course")

        return Handler


# The storage frame of the course page (LTI Client Side postMessages 0.1, platform storage): answers lti.put_data
# and lti.get_data from the tool's frame, keyed by the sender's origin.
STORAGE_FRAME = """<html><body><script>
var store = {};
window.addEventListener("message", function (event) {
  var m = event.data;
  if (!m || typeof m !== "object" || !m.subject || !m.message_id) { return; }
  var origin = event.origin, bucket = store[origin] = store[origin] || {};
  var answer = {subject: m.subject + ".response", message_id: m.message_id, key: m.key};
  if (m.subject === "lti.put_data") { bucket[m.key] = m.value; answer.value = m.value; }
  else if (m.subject === "lti.get_data") { answer.value = bucket[m.key]; }
  else { answer.error = {code: "unsupported_subject", message: m.subject}; }
  event.source.postMessage(answer, origin);
});
</script></body></html>"""
