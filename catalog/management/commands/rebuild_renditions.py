"""Make the renditions of existing product photos again (after changing widths or quality, or for
photos stored before renditions existed). Each image gets new keys; the old renditions are deleted."""

from django.core.management.base import BaseCommand, CommandError

from catalog.images import ImageRejectedError
from catalog.models import ProductImage
from catalog.services.image_records import product_image_rebuild_renditions
from catalog.storage import ImageStorageError


class Command(BaseCommand):
    help = "Regenerate WebP and JPEG renditions for product images (all, or one product's)."

    def add_arguments(self, parser):
        parser.add_argument("--product", metavar="SLUG", help="Only this product's images.")
        parser.add_argument("--missing", action="store_true", help="Only images that have no renditions yet.")

    def handle(self, *args, product=None, missing=False, **options):
        images = ProductImage.objects.select_related("product").order_by("pk")
        if product:
            images = images.filter(product__slug=product)
        if missing:
            images = images.filter(renditions=[])
        done = failed = 0
        for image in images.iterator(chunk_size=100):
            try:
                product_image_rebuild_renditions(image=image)
            except (ImageRejectedError, ImageStorageError, FileNotFoundError) as exc:
                failed += 1
                message = exc.messages[0] if isinstance(exc, ImageRejectedError) else str(exc) or type(exc).__name__
                self.stderr.write(f"Image {image.pk} ({image.image.name}): {message}")
                continue
            done += 1
            if options["verbosity"] > 1:
                self.stdout.write(f"Image {image.pk}: {len(image.renditions)} renditions")
        self.stdout.write(f"Rebuilt renditions for {done} image(s); {failed} failed.")
        if failed:
            raise CommandError(f"{failed} image(s) could not be processed (see above).")
