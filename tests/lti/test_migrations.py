"""The data migration that namespaces the course ids of earlier LTI launches."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from lti_tool.models import LtiContext, LtiDeployment, LtiMembership, LtiRegistration, LtiUser

from lti.services import lti_course_id
from monitor.models import CourseAssignment, ExamSession

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE, AFTER = [("lti", "0001_first_key")], [("lti", "0002_namespaced_course_ids")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def test_earlier_lti_course_ids_get_their_platform_prefix_and_api_ones_stay():
    migrate(BEFORE)
    try:
        registration = LtiRegistration.objects.create(name="Moodle", issuer="https://moodle.example", client_id="c1",
                                                      auth_url="https://moodle.example/a",
                                                      token_url="https://moodle.example/t",
                                                      keyset_url="https://moodle.example/k")
        deployment = LtiDeployment.objects.create(registration=registration, deployment_id="3", is_active=True)
        context = LtiContext.objects.create(deployment=deployment, id_on_platform="7")
        # The same context id in another deployment of the platform: another course, whose rows stay as they are.
        other = LtiDeployment.objects.create(registration=registration, deployment_id="4", is_active=True)
        other_context = LtiContext.objects.create(deployment=other, id_on_platform="7")
        users = get_user_model().objects
        teacher, learner, api_learner, elsewhere = (users.create_user(n) for n in
                                                    ("teacher", "learner", "api-learner", "elsewhere"))
        for user, where in ((teacher, context), (learner, context), (elsewhere, other_context)):
            lti_user = LtiUser.objects.create(registration=registration, sub=user.username, auth_user=user)
            LtiMembership.objects.create(user=lti_user, context=where)
        CourseAssignment.objects.create(instructor=teacher, course_id="7")
        ExamSession.objects.create(learner=learner, course_id="7", exam_id="quiz")
        ExamSession.objects.create(learner=api_learner, course_id="7", exam_id="quiz")  # made by the REST API
        migrate(AFTER)
    finally:
        migrate([("lti", "0002_namespaced_course_ids")])
    new = lti_course_id(issuer="https://moodle.example", deployment_id="3", context_id="7")
    other_new = lti_course_id(issuer="https://moodle.example", deployment_id="4", context_id="7")
    assert CourseAssignment.objects.get().course_id == new
    assert ExamSession.objects.get(learner=learner).course_id == new
    assert ExamSession.objects.get(learner=api_learner).course_id == "7"
    assert not ExamSession.objects.filter(course_id=other_new).exists()


def test_tenants_of_earlier_sessions_the_platforms_accounts_and_the_one_lms_account():
    from django.contrib.auth.models import Permission

    from monitor.models import TenantLearner

    before = [("monitor", "0005_presence"), ("lti", "0002_namespaced_course_ids")]
    migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        OldSession = old.get_model("monitor", "ExamSession")
        registration = LtiRegistration.objects.create(name="Moodle", issuer="https://moodle.example", client_id="c1",
                                                      auth_url="https://moodle.example/a",
                                                      token_url="https://moodle.example/t",
                                                      keyset_url="https://moodle.example/k")
        LtiDeployment.objects.create(registration=registration, deployment_id="3", is_active=True)
        users = get_user_model().objects
        lms, platform_learner, api_learner = (users.create_user(n) for n in ("lms", "platform-learner", "api-learner"))
        lms.user_permissions.add(Permission.objects.get(codename="add_examsession"))
        LtiUser.objects.create(registration=registration, sub="1", auth_user=platform_learner)
        course = lti_course_id(issuer="https://moodle.example", deployment_id="3", context_id="7")
        OldSession.objects.create(learner_id=platform_learner.pk, course_id=course, exam_id="quiz")
        # Made over REST for the platform's learner (what tenancy now refuses): still the platform's learner.
        OldSession.objects.create(learner_id=platform_learner.pk, course_id="c", exam_id="api-quiz")
        OldSession.objects.create(learner_id=api_learner.pk, course_id="c", exam_id="quiz")
        migrate([("lti", "0003_platform_tenants")])
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    assert ExamSession.objects.get(exam_id="quiz", course_id=course).tenant.lti_issuer == "https://moodle.example"
    assert ExamSession.objects.get(learner=api_learner).tenant.account == lms
    assert ExamSession.objects.get(exam_id="api-quiz").tenant.account == lms
    assert TenantLearner.objects.get(learner=platform_learner).tenant.lti_issuer == "https://moodle.example"
    assert TenantLearner.objects.get(learner=api_learner).tenant.account == lms
