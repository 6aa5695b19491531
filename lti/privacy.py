"""What LTI keeps about a learner (django-lti's platform user records and memberships), for export and erasure."""
from __future__ import annotations

from typing import Any

from lti_tool.models import LtiMembership, LtiUser

ROLES = ("is_administrator", "is_content_developer", "is_instructor", "is_learner", "is_mentor")


def lti_learner_export(*, user: Any, **kwargs) -> dict:
    """The platforms' records of the learner: who they are there (sub, names, email) and their course roles."""
    records = LtiUser.objects.filter(auth_user=user).select_related("registration").order_by("pk")
    return {"lti_users": [
        {"issuer": r.registration.issuer, "sub": r.sub, "name": r.name, "given_name": r.given_name,
         "family_name": r.family_name, "email": r.email, "picture_url": r.picture_url,
         "created": r.datetime_created.isoformat(),
         "memberships": [{"context": m.context.id_on_platform, "title": m.context.title, "is_active": m.is_active,
                          "roles": [role[3:] for role in ROLES if getattr(m, role)]}
                         for m in LtiMembership.objects.filter(user=r).select_related("context").order_by("pk")]}
        for r in records]}


def lti_learner_erase(*, user: Any, **kwargs) -> dict[str, int]:
    """Delete the platforms' records of the learner (memberships go with them); the username, made from the name
    the platform gave, becomes neutral, so that a later launch makes a fresh account."""
    records = LtiUser.objects.filter(auth_user=user)
    counts = {"lti users": records.count(), "lti memberships": LtiMembership.objects.filter(user__in=records).count()}
    if counts["lti users"]:
        records.delete()
        user.username = f"erased-{user.pk}"
        user.save(update_fields=["username"])
    return counts
