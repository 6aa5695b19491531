"""Course ids of earlier LTI launches (the bare context.id) become the tool's per-deployment ids (lti:<hash>:<id>)."""
import hashlib

from django.db import migrations


def namespace(apps, schema_editor):
    LtiContext = apps.get_model("lti_tool", "LtiContext")
    LtiMembership = apps.get_model("lti_tool", "LtiMembership")
    CourseAssignment = apps.get_model("monitor", "CourseAssignment")
    ExamSession = apps.get_model("monitor", "ExamSession")
    for context in LtiContext.objects.select_related("deployment__registration").exclude(id_on_platform=""):
        issuer, deployment_id = context.deployment.registration.issuer, context.deployment.deployment_id
        # The formula of lti.services.lti_course_id, frozen here as migrations must be.
        digest = hashlib.sha256(f"{issuer}\n{deployment_id}".encode()).hexdigest()[:10]
        old, new = context.id_on_platform, f"lti:{digest}:{context.id_on_platform}"
        if len(new) > 128:
            continue
        # Only the rows of the users who launched from this context (django-lti records a membership at each
        # launch): sessions and assignments of other deployments and of the REST API keep their ids.
        users = LtiMembership.objects.filter(context=context, user__auth_user__isnull=False).values("user__auth_user")
        assignments = CourseAssignment.objects.filter(course_id=old, instructor__in=users)
        assignments.filter(instructor__in=CourseAssignment.objects.filter(course_id=new).values("instructor")).delete()
        assignments.update(course_id=new)
        ExamSession.objects.filter(course_id=old, learner__in=users).update(course_id=new)


class Migration(migrations.Migration):
    dependencies = [("lti", "0001_first_key"), ("monitor", "0005_presence"),
                    ("lti_tool", "0008_ltideployment_pns_url_and_more")]
    operations = [migrations.RunPython(namespace, migrations.RunPython.noop)]
