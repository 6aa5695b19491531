"""Each LTI platform becomes a tenant: the accounts its launches made, and the sessions of its courses, are its."""
import hashlib

from django.db import migrations


def platforms_to_tenants(apps, schema_editor):
    LtiUser, LtiDeployment = apps.get_model("lti_tool", "LtiUser"), apps.get_model("lti_tool", "LtiDeployment")
    Tenant, TenantLearner = apps.get_model("monitor", "Tenant"), apps.get_model("monitor", "TenantLearner")
    ExamSession = apps.get_model("monitor", "ExamSession")

    def tenant(issuer):
        return Tenant.objects.get_or_create(lti_issuer=issuer, defaults={"name": f"LTI platform {issuer}"[:200]})[0]

    for lti_user in LtiUser.objects.filter(auth_user__isnull=False).select_related("registration"):
        # The platform's own accounts are its even if an LMS account had named them over REST before.
        TenantLearner.objects.update_or_create(learner_id=lti_user.auth_user_id,
                                               defaults={"tenant": tenant(lti_user.registration.issuer)})
    for deployment in LtiDeployment.objects.select_related("registration"):
        issuer = deployment.registration.issuer
        # The formula of lti.services.lti_course_id, frozen here as migrations must be.
        digest = hashlib.sha256(f"{issuer}\n{deployment.deployment_id}".encode()).hexdigest()[:10]
        sessions = ExamSession.objects.filter(course_id__startswith=f"lti:{digest}:")
        if sessions.exists():
            sessions.update(tenant=tenant(issuer))


class Migration(migrations.Migration):
    dependencies = [("lti", "0002_namespaced_course_ids"), ("monitor", "0007_tenancy")]
    operations = [migrations.RunPython(platforms_to_tenants, migrations.RunPython.noop)]
