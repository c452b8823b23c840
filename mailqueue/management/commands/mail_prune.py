from django.conf import settings
from django.core.management.base import BaseCommand

from mailqueue.services import mail_prune


class Command(BaseCommand):
    help = "Delete sent e-mails and finished delivery tasks older than SHOP_MAIL_RETENTION_DAYS (failed ones stay)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override SHOP_MAIL_RETENTION_DAYS.")

    def handle(self, *args, days=None, **options):
        days = settings.SHOP_MAIL_RETENTION_DAYS if days is None else days
        if days < 1:
            self.stderr.write("mail_prune: --days must be 1 or more")
            raise SystemExit(2)
        mails, tasks = mail_prune(days=days)
        self.stdout.write(f"mail_prune: {mails} sent e-mail(s) and {tasks} finished task(s) older than {days} days")
