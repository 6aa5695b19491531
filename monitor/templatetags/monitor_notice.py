"""What the monitoring notice says is inferred, from the settings in force (never a fixed text)."""
from django import template

from .. import identity, selectors

register = template.Library()


@register.simple_tag
def exam_infers_age_gender() -> bool:
    """Whether exam frames infer age and gender here (MONITOR's AGE_GENDER and the engine's switch)."""
    return selectors.exam_age_gender_inferred()


@register.simple_tag
def exam_checks_identity(session) -> bool:
    """Whether this session compares the face in view with the face at its start (identity check)."""
    return identity.identity_checked(session=session)


@register.simple_tag
def exam_notice(session) -> dict:
    """The notice's lists for this session (selectors.notice_contents), from the settings in force."""
    return selectors.notice_contents(session=session)
