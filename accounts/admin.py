from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm

from .models import POSTAL_ADDRESS_FIELDS, Address, User
from .text_rules import PlainTextField


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = ("label", *POSTAL_ADDRESS_FIELDS, "is_default")


class ShopUserChangeForm(UserChangeForm):
    """Django's form, with the shop's text rules on the names staff may type for a shopper."""

    class Meta(UserChangeForm.Meta):
        field_classes = {**UserChangeForm.Meta.field_classes, "first_name": PlainTextField, "last_name": PlainTextField}


@admin.register(User)
class ShopUserAdmin(UserAdmin):
    form = ShopUserChangeForm
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "date_joined")
    readonly_fields = ("oidc_sub",)
    fieldsets = (*UserAdmin.fieldsets, ("Sign-in provider", {"fields": ("oidc_sub",)}))
    inlines = (AddressInline,)
