"""Export everything stored about one learner as JSON (the learner's right of access)."""
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitor import privacy


class Command(BaseCommand):
    """Prints JSON, or writes it to --output."""

    help = "Export a learner's sessions, alerts and engagement logs as JSON."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--output", help="Write to this file instead of standard output.")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user {options['username']!r}.")
        text = json.dumps(privacy.learner_data_export(user=user), indent=2)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                out.write(text)
            self.stderr.write(f"Wrote {options['output']}")
        else:
            self.stdout.write(text)
