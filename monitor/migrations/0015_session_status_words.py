"""Session statuses read in one set of words everywhere: Not started, In progress, Ended (values unchanged)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitor', '0014_alert_since'),
    ]

    operations = [
        migrations.AlterField(
            model_name='examsession',
            name='status',
            field=models.CharField(choices=[('scheduled', 'Not started'), ('active', 'In progress'), ('ended', 'Ended')], db_index=True, default='scheduled', max_length=16),
        ),
    ]
