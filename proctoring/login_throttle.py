"""Login throttling: after repeated failed logins, an account is refused a while from that address, and an
address with many failures (of any accounts) is slowed down, one attempt every few seconds, never locked: behind a
campus NAT a guesser must not lock every instructor out.

Counted in Django's cache (per process when embedded, shared through Redis when scaled). Both login forms use it:
the site's (/accounts/login/) and the admin's.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.forms import ValidationError

from engagement.api import cache_count_add


def client_address(request) -> str:
    """The client's address: the proxy's last X-Forwarded-For entry behind a trusted proxy, else the peer."""
    if request is None:
        return "-"
    if settings.SECURE_PROXY_SSL_HEADER:  # DJANGO_BEHIND_PROXY=1: the proxy appends the address it saw
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "-")


def _keys(request, username: str | None) -> list[tuple[str, int]]:
    """The counters a login attempt touches, each with its limit."""
    address = client_address(request)
    limits = settings.LOGIN_THROTTLE
    keys = [(f"login.fail.addr.{address}", limits["PER_ADDRESS"])]
    if username:
        keys.append((f"login.fail.user.{username.strip().lower()[:150]}.{address}", limits["PER_USER"]))
    return keys


def lockout_check(request, username: str | None) -> None:
    """Refuse (ValidationError) a login attempt for an account that failed too often lately from this address, or
    from an address with many failures that made an attempt in the last ADDRESS_SLOW_SECONDS."""
    limits = settings.LOGIN_THROTTLE
    (address_key, address_limit), *account = _keys(request, username)
    if any((cache.get(key) or 0) >= limit for key, limit in account):
        minutes = max(1, limits["SECONDS"] // 60)
        raise ValidationError(f"Too many failed logins: try again in {minutes} minutes.", code="throttled")
    slow = limits.get("ADDRESS_SLOW_SECONDS", 5)
    if (cache.get(address_key) or 0) >= address_limit and not cache.add(f"{address_key}.turn", 1, timeout=slow):
        raise ValidationError(f"Many failed logins come from your network: wait {slow} seconds, then try again.",
                              code="slowed")


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs):
    for key, _ in _keys(request, credentials.get("username")):
        cache_count_add(key, timeout=settings.LOGIN_THROTTLE["SECONDS"])


@receiver(user_logged_in)
def _forget_failures(sender, request, user, **kwargs):
    cache.delete_many([key for key, _ in _keys(request, user.get_username())][1:])  # the address count stays


class _Throttled:
    """Refuse the login before authenticating while its username or address is locked out."""

    def clean(self):
        lockout_check(self.request, self.cleaned_data.get("username"))
        return super().clean()


class ThrottledAuthenticationForm(_Throttled, AuthenticationForm):
    """The site's login form, with the lockout."""


class ThrottledAdminAuthenticationForm(_Throttled, AdminAuthenticationForm):
    """The admin's login form, with the same lockout."""
