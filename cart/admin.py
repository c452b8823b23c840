from django.contrib import admin

from .models import Cart, CartLine


class CartLineInline(admin.TabularInline):
    model = CartLine
    extra = 0
    raw_id_fields = ("variant",)
    readonly_fields = ("created_at",)


@admin.register(Cart)
class CartAdmin(admin.ModelAdmin):
    list_display = ("pk", "user", "updated_at", "created_at")
    search_fields = ("user__email", "user__username", "token")
    raw_id_fields = ("user",)
    readonly_fields = ("token", "created_at", "updated_at")
    inlines = (CartLineInline,)
    date_hierarchy = "updated_at"
