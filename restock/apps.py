from django.apps import AppConfig


class RestockConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "restock"
    verbose_name = "Back-in-stock alerts"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the stock receiver
