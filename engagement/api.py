"""The in-process API other apps use: analyse a frame, store its log row (no HTTP involved)."""
from .conf import AppSettings, engagement_settings
from .engines import faces_comparable, warm_up
from .engines.base import EMOTIONS
from .exceptions import EngagementError, EngineUnavailable, InvalidInput
from .limits import cache_count_add, throttle_check
from .models import EngagementLog
from .offload import offloaded, task_send
from .processes import processes_enabled, processes_start, processes_stop
from .scoring import EngagementStatus, FrameError
from .services import (NOT_DESCRIBED_DARK, Frame, age_gender_enabled, analysis_pool, engagement_log_build,
                       faces_distance, frame_analyze, frame_analyze_described, head_pose_limits, image_thumbnail,
                       timestamp_parse)

__all__ = [
    "AppSettings", "EMOTIONS", "EngagementError", "EngineUnavailable", "EngagementLog", "EngagementStatus", "Frame",
    "FrameError", "InvalidInput", "age_gender_enabled", "cache_count_add", "analysis_pool", "engagement_log_build", "engagement_settings",
    "faces_distance", "frame_analyze", "frame_analyze_described", "head_pose_limits", "image_thumbnail", "offloaded",
    "task_send", "throttle_check", "timestamp_parse", "warm_up", "NOT_DESCRIBED_DARK", "faces_comparable",
    "processes_enabled", "processes_start", "processes_stop",
]
