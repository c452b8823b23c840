from django.contrib import admin

from .models import RestockSignup


@admin.register(RestockSignup)
class RestockSignupAdmin(admin.ModelAdmin):
    list_display = ("email", "variant", "created_at", "notified_at")
    list_filter = ("notified_at",)
    search_fields = ("email", "variant__sku")
    raw_id_fields = ("variant",)
    readonly_fields = ("created_at", "notified_at")
