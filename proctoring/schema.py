"""OpenAPI: each endpoint under its tag (engagement, sessions, reports, alerts, webhooks, learners) instead of one
"api"."""
from drf_spectacular.openapi import AutoSchema


class TaggedAutoSchema(AutoSchema):
    """Tags from the path: the first matching rule names the endpoint's group."""

    RULES = (("analyze-mood", "engagement"), ("verify-faces", "engagement"), ("/report/", "reports"),
             ("/logs/", "reports"), ("/alerts/", "alerts"), ("/webhooks/", "webhooks"), ("/sessions/", "sessions"),
             ("/learners/", "learners"))

    def get_tags(self) -> list[str]:
        for fragment, tag in self.RULES:
            if fragment in self.path:
                return [tag]
        return super().get_tags()
