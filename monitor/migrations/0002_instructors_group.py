"""The Instructors group: view sessions, logs and alerts; change alerts (the admin limits that to review fields)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Instructors"
PERMISSIONS = [
    ("monitor", "view_examsession"),
    ("monitor", "monitor_sessions"),
    ("monitor", "view_alert"),
    ("monitor", "change_alert"),
    ("monitor", "view_courseassignment"),
    ("engagement", "view_engagementlog"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations; create them now so the group can hold them.
    for app_label in ("monitor", "engagement"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitor", "0001_initial"),
        ("engagement", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
