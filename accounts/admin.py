from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import POSTAL_ADDRESS_FIELDS, Address, User


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = ("label", *POSTAL_ADDRESS_FIELDS, "is_default")


@admin.register(User)
class ShopUserAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "date_joined")
    readonly_fields = ("oidc_sub",)
    fieldsets = (*UserAdmin.fieldsets, ("Sign-in provider", {"fields": ("oidc_sub",)}))
    inlines = (AddressInline,)
