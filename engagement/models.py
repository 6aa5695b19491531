"""EngagementLog: the derived metrics of one analysed frame (never the image)."""
from django.conf import settings
from django.db import models

from .scoring import EngagementStatus, Emotion


class EngagementLog(models.Model):
    """One analysed frame that carried a session id."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="engagement_logs"
    )
    session_key = models.CharField(max_length=128, db_index=True, help_text="The client's session id.")
    # Who wrote the row. A REST client's session_id is free text: rows it writes are "api" and never mix with
    # the rows an app records for its own sessions (monitor's exam sessions are "monitor"), whatever the key.
    source = models.CharField(max_length=16, default="api", db_index=True,
                              help_text="'api' for frames sent to the REST API, else the app that recorded it.")
    # Set by the caller for frames that may be delivered twice (a queue's redelivery): one row per frame.
    frame_id = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    frame_time = models.DateTimeField(db_index=True, help_text="When the frame was captured: the client's timestamp "
                                      "for API frames, the server's receive time for an app's own sessions.")
    client_time = models.DateTimeField(null=True, blank=True, help_text="The client's timestamp as reported, where "
                                       "frame_time is the server's time.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    success = models.BooleanField(default=True)
    error = models.CharField(max_length=32, blank=True, help_text="no_face or face_too_small when not analysed.")
    dominant_emotion = models.CharField(max_length=16, choices=Emotion.choices, blank=True)
    emotions = models.JSONField(null=True, blank=True)
    engagement_score = models.FloatField(null=True, blank=True)
    engagement_status = models.CharField(max_length=32, choices=EngagementStatus.choices, blank=True, db_index=True)
    face_count = models.PositiveSmallIntegerField(default=0)
    head_yaw = models.FloatField(null=True, blank=True, help_text="Degrees; positive: turned to the image's right.")
    head_pitch = models.FloatField(null=True, blank=True, help_text="Degrees; positive: looking down.")
    looking_away = models.BooleanField(null=True, blank=True)
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=8, blank=True)
    engine = models.CharField(max_length=32)
    processing_ms = models.FloatField()

    class Meta:
        ordering = ["session_key", "frame_time"]
        indexes = [models.Index(fields=["session_key", "frame_time"])]

    def __str__(self) -> str:
        return f"{self.session_key} @ {self.frame_time:%Y-%m-%d %H:%M:%S}: {self.engagement_status or self.error}"
