"""Catalogue operations with rules, one module per job:

- ``product_import``: the staff's CSV import of products, variants, prices and stock (``import_rows``
  reads and checks the file row by row before the database is touched);
- ``price_ranges``: each product's stored price range over its active variants;
- ``image_records``: product photos, their rows and their stored files;
- ``stock``: stock moved by orders and by staff adjustments.

Cache versions are not a job of their own here: catalog.cache has the one function that bumps them and
catalog.signals calls it for every write (see catalog.models.CatalogueQuerySet).
"""
