from django.core.management.base import BaseCommand

from mailqueue.services import mail_requeue


class Command(BaseCommand):
    help = "Enqueue a delivery task for every pending e-mail (run before the worker starts)."

    def handle(self, *args, **options):
        self.stdout.write(f"mail_requeue: {mail_requeue()} pending e-mail(s) queued")
