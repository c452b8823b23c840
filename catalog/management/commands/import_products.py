"""Import or update products and variants from a CSV file (columns: see the README, "Importing products")."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.services.product_import import ImportResult, product_import_csv


class Command(BaseCommand):
    help = "Create or update products and variants from a CSV, one row per variant, matched by SKU."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file, UTF-8 (a byte-order mark is fine).")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report; write nothing.")

    def handle(self, *args, file: Path, dry_run: bool, **options) -> None:
        try:
            with file.open("rb") as handle:
                result = product_import_csv(file=handle, dry_run=dry_run)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(result.errors)} problem(s) found in {file}; nothing was imported.")
        self.stdout.write(self.summary(result))

    @staticmethod
    def summary(result: ImportResult) -> str:
        verb = "Dry run, nothing written. The import would report:" if result.dry_run else "Imported."
        products = (
            f"{result.products_created} created, {result.products_updated} updated, "
            f"{result.products_unchanged} unchanged"
        )
        variants = (
            f"{result.variants_created} created, {result.variants_updated} updated, "
            f"{result.variants_unchanged} unchanged"
        )
        summary = f"{verb} Products: {products}. Variants: {variants}."
        # Each stock difference is a recorded change (a recount, or a new variant's opening stock) against
        # the stock at the time of the import: a piece sold since the sheet was exported shows up here.
        summary += f" Stock: {len(result.stock_changes)} change(s) recorded in the stock history"
        summary += (": " + "; ".join(result.stock_changes) + ".") if result.stock_changes else "."
        if result.products_created:
            summary += (
                f" {result.products_created} new product(s) are hidden from the shop: add a photo and tick "
                '"Active" on each in the admin to publish it.'
            )
        return summary
