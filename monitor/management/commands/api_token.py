"""Issue an API token for an account (an LMS service account, say): printed once, stored only as a hash."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from monitor.services import api_token_issue


class Command(BaseCommand):
    """Prints a new token; the account's other tokens stay valid unless --revoke-others."""

    help = "Issue a new API token for a user (shown once; it expires after API_TOKEN_TTL_DAYS)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke-others", action="store_true", help="Revoke the account's earlier tokens.")

    def handle(self, *args, **options):
        user = get_user_model().objects.filter(username=options["username"], is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {options['username']!r}.")
        if options["revoke_others"]:
            from knox.models import AuthToken

            AuthToken.objects.filter(user=user).delete()
        self.stdout.write(api_token_issue(user=user))
