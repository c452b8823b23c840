"""Security events from Django's own signals: failed sign-ins (also counted by the throttle), admin changes."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from jewelry_site.client_address import client_ip
from jewelry_site.logging import security_event
from jewelry_site.throttle import login_failure_record, login_throttle_reset

_ADMIN_ACTIONS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@receiver(user_login_failed, dispatch_uid="shop_login_failed")
def log_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in ``credentials``; only the username is read.
    username = str(credentials.get("username") or "")[:150]
    failures = login_failure_record(request=request, username=username)
    security_event("login_failed", username=username, client_ip=client_ip(request), failures=failures)


@receiver(user_logged_in, dispatch_uid="shop_login_throttle_reset")
def reset_throttle_on_login(sender, request, user, **kwargs) -> None:
    login_throttle_reset(request=request, username=user.get_username())


@receiver(post_save, sender=LogEntry, dispatch_uid="shop_admin_change")
def log_admin_change(sender, instance: LogEntry, created: bool, **kwargs) -> None:
    if not created:
        return
    content_type = instance.content_type
    security_event(
        "admin_change",
        action=_ADMIN_ACTIONS.get(instance.action_flag, str(instance.action_flag)),
        admin_user_id=instance.user_id,
        model=f"{content_type.app_label}.{content_type.model}" if content_type else None,
        object_id=str(instance.object_id) if instance.object_id is not None else None,
        object_repr=(instance.object_repr or "")[:100],
    )
