"""Content pages (issue #14): size guide, jewellery care, delivery and returns, terms, privacy, contact.

An app of its own because these pages are neither catalogue nor orders: staff edit them in the admin,
they render Markdown through one sanitiser (pages.rendering) and they have their own sitemap section.
It stands on nothing of ours."""
