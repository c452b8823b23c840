"""Wishlists (issue #14): a signed-in shopper's saved pieces, with their live price and availability.

An app of its own: it joins a user (settings.AUTH_USER_MODEL, never imported from accounts) to catalog
products, and neither of those apps should know about it. It stands above catalog only."""
