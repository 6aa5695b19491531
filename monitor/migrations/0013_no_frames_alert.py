"""The no_frames alert kind: a connected exam page that sends no frame to analyse."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitor', '0012_evidence'),
    ]

    operations = [
        migrations.AlterField(
            model_name='alert',
            name='kind',
            field=models.CharField(choices=[('absent', 'Absent'), ('multiple_faces', 'Several faces'), ('looking_away', 'Looking away'), ('low_engagement', 'Low engagement'), ('struggling', 'Struggling'), ('identity_changed', 'Identity changed'), ('camera_blocked', 'Camera blocked'), ('disconnected', 'Disconnected'), ('no_frames', 'No frames')], max_length=32),
        ),
    ]
