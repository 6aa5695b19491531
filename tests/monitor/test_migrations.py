"""Data created by migrations."""
import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db
def test_instructors_group_can_view_and_review_only():
    codenames = set(Group.objects.get(name="Instructors").permissions.values_list("codename", flat=True))
    assert codenames == {"view_examsession", "monitor_sessions", "view_alert", "change_alert",
                         "view_courseassignment", "view_engagementlog"}
