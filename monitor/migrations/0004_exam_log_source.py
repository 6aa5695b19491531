"""Mark the rows recorded for exam sessions as monitor's (rows a REST client wrote under an exam's id stay 'api')."""
from django.db import migrations


def mark_exam_rows(apps, schema_editor):
    ExamSession = apps.get_model("monitor", "ExamSession")
    EngagementLog = apps.get_model("engagement", "EngagementLog")
    for session_id, learner_id in ExamSession.objects.values_list("id", "learner_id").iterator():
        # Frames from the socket are stored under the session's learner; anyone else's rows were sent to the API.
        EngagementLog.objects.filter(session_key=str(session_id), user_id=learner_id).update(source="monitor")


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0003_alter_alert_kind"),
        ("engagement", "0004_engagementlog_source"),
    ]

    operations = [migrations.RunPython(mark_exam_rows, migrations.RunPython.noop)]
