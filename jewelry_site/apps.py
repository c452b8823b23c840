"""The project package as an app, so its signal receivers (security events) are wired."""

from django.apps import AppConfig


class JewelrySiteConfig(AppConfig):
    name = "jewelry_site"
    verbose_name = "Site operations"

    def ready(self) -> None:
        from jewelry_site import checks, signals  # noqa: F401 - registers the checks, connects the receivers
