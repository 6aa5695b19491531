"""Delete engagement data older than the retention period (RETENTION_DAYS)."""
from django.core.management.base import BaseCommand

from monitor import privacy

from ...conf import retention_days


class Command(BaseCommand):
    """Run it daily (cron, a systemd timer or Celery beat)."""

    help = "Delete logs, alerts, ended sessions and webhook deliveries older than ENGAGEMENT_RETENTION_DAYS."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only print what would be deleted.")
        parser.add_argument("--days", type=int, help=f"Override the retention (default {retention_days()}).")

    def handle(self, *args, **options):
        cutoff = privacy.retention_cutoff(days=options["days"])
        if options["dry_run"]:
            counts = privacy.data_purge_count(cutoff=cutoff)
            verb = "would delete"
        else:
            counts = privacy.data_purge(cutoff=cutoff)
            verb = "deleted"
        self.stdout.write(f"Older than {cutoff.isoformat()}: {verb} "
                          + ", ".join(f"{n} {name}" for name, n in counts.items()))
