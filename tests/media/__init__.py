"""Test helpers for product images (issue #5): sample files and a loopback S3 proxy."""
