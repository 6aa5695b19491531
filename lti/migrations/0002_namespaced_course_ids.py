"""Course ids of earlier LTI launches (the bare context.id) become the tool's per-deployment ids (lti:<hash>:<id>)."""
import hashlib

from django.db import migrations


def namespace(apps, schema_editor):
    LtiContext = apps.get_model("lti_tool", "LtiContext")
    LtiUser = apps.get_model("lti_tool", "LtiUser")
    CourseAssignment = apps.get_model("monitor", "CourseAssignment")
    ExamSession = apps.get_model("monitor", "ExamSession")
    for context in LtiContext.objects.select_related("deployment__registration").exclude(id_on_platform=""):
        issuer, deployment_id = context.deployment.registration.issuer, context.deployment.deployment_id
        # The formula of lti.services.lti_course_id, frozen here as migrations must be.
        digest = hashlib.sha256(f"{issuer}\n{deployment_id}".encode()).hexdigest()[:10]
        old, new = context.id_on_platform, f"lti:{digest}:{context.id_on_platform}"
        if len(new) > 128:
            continue
        # Only the rows of this platform's users: sessions and assignments the REST API made keep their ids.
        users = LtiUser.objects.filter(registration__issuer=issuer, auth_user__isnull=False).values("auth_user")
        (CourseAssignment.objects.filter(course_id=old, instructor__in=users)
         .exclude(instructor__in=CourseAssignment.objects.filter(course_id=new).values("instructor"))
         .update(course_id=new))
        ExamSession.objects.filter(course_id=old, learner__in=users).update(course_id=new)


class Migration(migrations.Migration):
    dependencies = [("lti", "0001_first_key"), ("monitor", "0005_presence"),
                    ("lti_tool", "0008_ltideployment_pns_url_and_more")]
    operations = [migrations.RunPython(namespace, migrations.RunPython.noop)]
