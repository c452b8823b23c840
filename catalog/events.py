"""Signals the catalogue sends for apps above it (catalog stands on nothing of ours, so they listen).

``variant_stock_changed`` is sent, inside the writing transaction, by every path that can raise a
variant's stock: ``catalog.services.catalog_stock_changed`` (the queryset.update() writers: orders
returning stock; a sale only lowers it and is not sent) and the post_save receiver of ProductVariant
(admin edits, the CSV import, the demo loader's saves). Keyword arguments: ``variant_ids`` (list of int) and ``using``.
A receiver defers its work with transaction.on_commit: a rolled-back change must not be heard of.
"""

from django.dispatch import Signal

variant_stock_changed = Signal()
