"""Erase one learner's engagement data (the learner's right of erasure)."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitor import privacy


class Command(BaseCommand):
    """Deletes the learner's logs, sessions and alerts; the user account is kept."""

    help = "Delete a learner's sessions, alerts and engagement logs. Asks for --yes."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--yes", action="store_true", help="Really delete (without it, nothing is deleted).")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        if not options["yes"]:
            raise CommandError("This deletes the learner's data for good: add --yes to confirm.")
        counts = privacy.learner_data_erase(user=user)
        self.stdout.write(f"Erased for {user.get_username()}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
