"""manage.py lti_sync_instructors: course assignments from each LTI course's member list (Names and Roles)."""
from django.core.management.base import BaseCommand, CommandError
from lti_tool.models import LtiContext
from pylti1p3.exception import LtiException

from lti import services


class Command(BaseCommand):
    help = "Sync the instructors of LTI courses (NRPS member lists) into course assignments."

    def add_arguments(self, parser):
        parser.add_argument("--course", help="Only this course: the tool's course id (lti:...) or the platform's "
                                             "context id; default: every LTI course.")

    def handle(self, *args, course=None, **options):
        contexts = LtiContext.objects.select_related("deployment__registration").exclude(memberships_url="")
        if course:
            contexts = [c for c in contexts if course in (c.id_on_platform, services.context_course_id(context=c))]
        if not contexts:
            raise CommandError("No LTI course with a member list (launch the tool from the course first).")
        failed = 0
        for context in contexts:
            try:
                outcome = services.course_instructors_sync(context=context)
            except (LtiException, OSError) as exc:  # one platform down must not stop the others
                failed += 1
                self.stderr.write(f"{services.context_course_id(context=context)}: {exc}")
                continue
            self.stdout.write(f"{outcome['course_id']}: {outcome['instructors']} instructors, "
                              f"{outcome['added']} added, {outcome['removed']} removed")
        if failed:
            raise CommandError(f"{failed} course(s) could not be synced.")
