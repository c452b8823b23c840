"""Load the demo catalogue (idempotent: only what is missing is added; existing rows and images are kept)."""

from django.core.management.base import BaseCommand, CommandParser

from catalog.demo import demo_catalog_load


class Command(BaseCommand):
    help = "Add the demo categories, collections, products, variants and drawn product photos that are missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--image-size", type=int, default=1200, help="Width and height of new photos in pixels (64-2400)."
        )
        parser.add_argument("--limit", type=int, default=None, help="Load only the first N demo products.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="Processes drawing the photos (default: one per CPU, at most 4; 1 draws them in this process).",
        )

    def handle(self, *args, image_size: int, limit: int | None, workers: int | None, **options) -> None:
        image_size = min(max(image_size, 64), 2400)
        verbose = options["verbosity"] > 1
        result = demo_catalog_load(
            image_size=image_size,
            limit=limit,
            workers=None if workers is None else max(workers, 1),
            progress=(lambda slug: self.stdout.write(f"  {slug}")) if verbose else None,
        )
        self.stdout.write(str(result))
