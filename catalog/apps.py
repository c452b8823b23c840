from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    default = True

    def ready(self) -> None:
        from . import signals  # noqa: F401 (connects the receivers)
