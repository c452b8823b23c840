"""Signals of the catalogue.

``variant_stock_changed`` is for apps above catalog (catalog stands on nothing of ours, so they
listen). It is sent, inside the writing transaction, by every path that can raise a variant's stock:
``catalog.services.stock.variant_stock_move`` when stock grows (orders returning pieces, staff
adjustments; a sale only lowers it and is not sent), catalog.signals for every saved variant (admin
edits, the CSV import, the demo loader) and for a queryset update of stock. Keyword arguments:
``variant_ids`` (list of int) and ``using``. A receiver defers its work with transaction.on_commit: a
rolled-back change must not be heard of.

``catalogue_rows_written`` is catalog's own: ``catalog.models.CatalogueQuerySet`` sends it after a
bulk write (update, bulk_create, bulk_update), which sends no post_save; catalog.signals answers it.
Keyword arguments: ``using``, ``product_ids`` (set of the products whose price range may have
changed) and ``stock_variant_ids`` (variants whose stock was set).
"""

from django.dispatch import Signal

variant_stock_changed = Signal()
catalogue_rows_written = Signal()
