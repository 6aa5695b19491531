"""What the monitoring notice says is inferred, from the settings in force (never a fixed text)."""
from django import template

from .. import selectors

register = template.Library()


@register.simple_tag
def exam_infers_age_gender() -> bool:
    """Whether exam frames infer age and gender here (MONITOR's AGE_GENDER and the engine's switch)."""
    return selectors.exam_age_gender_inferred()
