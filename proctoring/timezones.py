"""The viewer's time zone: pages and the admin show times in the zone the browser reports, the zone named."""
from __future__ import annotations

import zoneinfo

from django.utils import timezone

# Set by engagement/static/engagement/time.js on every page: the browser's IANA zone name (e.g. Europe/Berlin).
COOKIE = "tz"


def zone_parse(*, name: str | None) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name, or None for a missing, malformed or unknown one (never an error)."""
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


class ViewerTimeZoneMiddleware:
    """Activate the browser's zone for the request; without one, TIME_ZONE (DJANGO_TIME_ZONE) stays in force."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_parse(name=request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
