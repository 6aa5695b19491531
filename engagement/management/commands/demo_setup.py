"""Create a demo learner and a demo admin (only when DEMO=1) and print how to log in."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

DEMO_USERS = (
    # username, password, is_staff/superuser
    ("learner", "learner-demo-password", False),
    ("admin", "admin-demo-password", True),
)


class Command(BaseCommand):
    """Demo accounts for a newcomer: never available outside DEMO mode."""

    help = "Create the demo learner and admin when DEMO=1, and print their credentials and API tokens."

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
            token, _ = Token.objects.get_or_create(user=user)
            role = "admin" if admin else "learner"
            self.stdout.write(f"  {role:8} username={username} password={password} token={token.key}"
                              + ("" if created else " (already existed)"))
