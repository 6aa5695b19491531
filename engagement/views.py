"""Pages of the engagement app: the webcam try-out page."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .conf import engagement_settings
from .scoring import EngagementStatus


@login_required
def try_page(request):
    """The webcam page that posts frames to /analyze-mood and shows the answer."""
    return render(request, "engagement/try.html", {"statuses": EngagementStatus.choices,
                                                   "base_template": engagement_settings["BASE_TEMPLATE"]})
