"""Security events from Django's and django-axes' signals: failed and locked-out sign-ins, admin changes.

Counting failures is django-axes' job (its receiver runs first: ``axes`` is listed before this app);
these receivers only log. The name someone typed is never logged: people type passwords into that
box. A keyed digest of the normalised name (accounts.lockout.username_digest) lets an operator see
that failures concern one account without learning which.
"""

from axes.signals import user_locked_out
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.lockout import username_digest
from jewelry_site.client_address import client_ip
from jewelry_site.logs import security_event

_ADMIN_ACTIONS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@receiver(user_login_failed, dispatch_uid="shop_login_failed")
def log_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only password sign-ins: the provider's failures are logged by the callback (oidc_login_failed).
    if "username" not in credentials:
        return
    security_event(
        "login_failed",
        username_digest=username_digest(credentials.get("username")),
        client_ip=client_ip(request),
        failures=getattr(request, "axes_failures_since_start", None),
    )


@receiver(user_locked_out, dispatch_uid="shop_login_locked_out")
def log_login_locked_out(sender, request, username=None, ip_address=None, **kwargs) -> None:
    # Event name kept from the hand-written throttle: the CloudWatch metric filter counts it.
    security_event("login_throttled", username_digest=username_digest(username), client_ip=ip_address)


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
