from django.apps import AppConfig


class MailqueueConfig(AppConfig):
    name = "mailqueue"
    verbose_name = "Shopper e-mail"
