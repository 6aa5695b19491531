"""Create a demo learner and a demo admin (only when DEMO=1) and print how to log in."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken

from monitor.models import ExamSession
from monitor.services import DEMO_USERS, api_token_issue, session_create


class Command(BaseCommand):
    """Demo accounts for a newcomer: never available outside DEMO mode."""

    help = "Create the demo learner, admin and exam session when DEMO=1, and print how to use them."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000", help="Port the server will listen on (for the printed URLs).")

    def handle(self, *args, **options):
        if not settings.DEMO:
            raise CommandError("demo_setup only runs with DEMO=1 (never in production).")
        User = get_user_model()
        self.stdout.write("Demo accounts (DEMO=1 only):")
        for username, password, admin in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = admin
                user.save()
            # Tokens are stored hashed, so a new one is printed each time (the earlier ones are revoked).
            AuthToken.objects.filter(user=user).delete()
            token = api_token_issue(user=user)
            role = "admin" if admin else "learner"
            self.stdout.write(f"  {role:8} username={username} password={password} token={token}"
                              + ("" if created else " (already existed)"))
        learner = User.objects.get(username=DEMO_USERS[0][0])
        session = ExamSession.objects.of_learner(learner).running().first() or \
            session_create(learner=learner, course_id="demo-course", exam_id="demo-exam")
        base = f"http://127.0.0.1:{options['port']}"
        self.stdout.write(f"  try page (learner):     {base}/engagement/try/")
        self.stdout.write(f"  exam page (learner):    {base}/monitor/sessions/{session.id}/")
        self.stdout.write(f"  live view (admin):      {base}/monitor/live/")
        self.stdout.write(f"  admin:                  {base}/admin/")
        self.stdout.write(f"  LTI set-up (admin):     {base}/lti/setup/")
