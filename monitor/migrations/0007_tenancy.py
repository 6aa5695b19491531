"""Tenants: sessions and learners belong to one LMS account or one LTI platform; earlier REST sessions go to the
LMS account when there is exactly one (LTI's own migration gives the platforms theirs)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Q


def rest_sessions_to_the_lms_account(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Permission = apps.get_model("auth", "Permission")
    Tenant, TenantLearner = apps.get_model("monitor", "Tenant"), apps.get_model("monitor", "TenantLearner")
    ExamSession = apps.get_model("monitor", "ExamSession")
    permission = Permission.objects.filter(content_type__app_label="monitor", codename="add_examsession").first()
    if permission is None:
        return
    accounts = list(User.objects.filter(Q(user_permissions=permission) | Q(groups__permissions=permission),
                                        is_superuser=False).distinct()[:2])
    # With several LMS accounts nobody can tell whose a past session was: superusers alone see those.
    if len(accounts) != 1:
        return
    tenant = Tenant.objects.create(account=accounts[0], name=f"LMS account {accounts[0].username}"[:200])
    sessions = ExamSession.objects.exclude(course_id__startswith="lti:")
    sessions.update(tenant=tenant)
    for learner_id in sessions.values_list("learner_id", flat=True).distinct():
        TenantLearner.objects.get_or_create(learner_id=learner_id, defaults={"tenant": tenant})


class Migration(migrations.Migration):

    dependencies = [
        ('monitor', '0006_rejoin'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Tenant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200)),
                ('lti_issuer', models.CharField(blank=True, help_text="The LTI platform's issuer (iss).", max_length=255)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('account', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='tenant', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddField(
            model_name='examsession',
            name='tenant',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='sessions', to='monitor.tenant'),
        ),
        migrations.CreateModel(
            name='TenantLearner',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('learner', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='learner_tenancy', to=settings.AUTH_USER_MODEL)),
                ('tenant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='learners', to='monitor.tenant')),
            ],
        ),
        migrations.AddConstraint(
            model_name='tenant',
            constraint=models.UniqueConstraint(condition=models.Q(('lti_issuer', ''), _negated=True), fields=('lti_issuer',), name='one_tenant_per_platform'),
        ),
        migrations.AddConstraint(
            model_name='tenant',
            constraint=models.CheckConstraint(condition=models.Q(('account__isnull', True), ('lti_issuer', ''), _connector='XOR'), name='tenant_is_an_account_or_a_platform'),
        ),
        migrations.RunPython(rest_sessions_to_the_lms_account, migrations.RunPython.noop),
    ]
