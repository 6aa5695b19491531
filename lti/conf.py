"""lti's settings: the project's LTI dict over these defaults (see engagement.conf), read when they are used."""
from engagement.api import AppSettings

lti_settings = AppSettings("LTI", {
    "HTTP_TIMEOUT": 10.0,  # seconds to wait for a platform
    "KEY_SET_CACHE_SECONDS": 300,  # a platform's key set is reused this long
    # A token signed with a key the cached set lacks (the platform rotated it) fetches the set again, at most once
    # per this many seconds per platform.
    "KEY_SET_REFETCH_SECONDS": 30,
    "NONCE_SECONDS": 86400,  # a used nonce is remembered (and refused) this long
    # A platform's clock may run this far ahead of (iat, nbf) or behind (exp) the tool's: with none, a platform
    # a second ahead has its launches refused now and then ("not yet valid").
    "CLOCK_SKEW_SECONDS": 60,
    "CAMERA_CHECK_SECONDS": 120,  # a learner must have been seen by the camera this recently to start an attempt
    # A framed launch's one-time link to open the tool in its own window, and a login's state kept in the
    # platform's storage, stay valid this long.
    "CONTINUE_SECONDS": 300,
    # Hosts whose start_assessment_url (and other return URLs) may be plain http: a platform on loopback in
    # development or tests. Every other one must be https (the learner's browser posts a signed message there).
    "HTTP_HOSTS": [],
    # Hosts whose service URLs (member lists, assessment control) may resolve to an internal address.
    "INTERNAL_HOSTS": [],
    # The Content-Security-Policy of lti's pages. A page an LMS shows in its frame gets its own frame-ancestors
    # in place of 'none', a page that posts to the platform its origin beside form-action 'self': keep both
    # directives as they are here. Everything is served from this origin; the camera check's pictures are
    # blob/data URLs.
    "CONTENT_SECURITY_POLICY": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"),
})


def lti_settings_check() -> None:
    """Refuse, at start-up, an LTI block with an unknown or mistyped key, or a policy the pages cannot adapt."""
    from django.core.exceptions import ImproperlyConfigured

    lti_settings.validate()
    policy = lti_settings["CONTENT_SECURITY_POLICY"]
    for directive in ("frame-ancestors 'none'", "form-action 'self'"):
        if directive not in policy:
            raise ImproperlyConfigured(f"LTI['CONTENT_SECURITY_POLICY'] must contain \"{directive}\" (lti's framed "
                                       "pages and its posts to the platform replace it).")
