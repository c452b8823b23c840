"""Delete abandoned anonymous carts (run daily by deploy/jewelry-maintenance.timer in production)."""

from django.core.management.base import BaseCommand

from cart.services import cart_prune_stale


class Command(BaseCommand):
    help = "Delete anonymous carts not touched for --days days (default 30). Signed-in users' carts are kept."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30)

    def handle(self, *args, days: int, **options):
        removed = cart_prune_stale(older_than_days=days)
        self.stdout.write(f"Removed {removed} objects from stale anonymous carts.")
