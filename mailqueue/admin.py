"""Staff see every shopper e-mail, filter the ones that failed for good or were never confirmed by the
server, and send those again (an unconfirmed one most likely arrived: ask the shopper first)."""

from django.conf import settings
from django.contrib import admin, messages

from .models import Mail, MailStatus
from .services import mail_retry_failed


@admin.register(Mail)
class MailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "reference", "to", "status", "attempts", "last_error", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("reference", "to")
    date_hierarchy = "created_at"
    actions = ("retry",)
    readonly_fields = [field.name for field in Mail._meta.fields]
    BODIES = ("text_body", "html_body")

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and obj.kind in settings.SHOP_MAIL_PRIVATE_KINDS:
            # A password reset e-mail holds a live sign-in link: whoever reads it could take over the
            # account (a staff member's included). Staff see that it was sent, never what it says.
            return [name for name in fields if name not in self.BODIES]
        return fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Send the selected failed or unconfirmed e-mails again", permissions=["change"])
    def retry(self, request, queryset):
        resendable = queryset.filter(status__in=(MailStatus.FAILED, MailStatus.UNCONFIRMED))
        count = mail_retry_failed(mail_ids=list(resendable.values_list("pk", flat=True)))
        self.message_user(request, f"{count} e-mail(s) queued again.", messages.SUCCESS)
