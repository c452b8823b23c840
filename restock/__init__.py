"""Back-in-stock alerts (issue #14): a shopper leaves an e-mail address on a sold-out variant and is
written to once when it is back.

An app of its own: it sits above catalog (it listens to catalog.events.variant_stock_changed, which
every stock-changing path sends) and below jewelry_site, and nothing else needs it. No account needed."""
