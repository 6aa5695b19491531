"""Joins the two migrations made side by side after 0012: alert since times and the no_frames kind."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('monitor', '0013_alert_since'),
        ('monitor', '0013_no_frames_alert'),
    ]

    operations = [
    ]
