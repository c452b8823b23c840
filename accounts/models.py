from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Upper


class User(AbstractUser):
    """The shop's user, custom from the first migration so it can grow without a painful swap.

    ``oidc_sub`` is the identity provider's stable subject id; sign-ins through Cognito match on it,
    never on e-mail (an address can change hands).
    """

    oidc_sub = models.CharField(max_length=255, unique=True, null=True, blank=True, editable=False)

    class Meta:
        db_table = "accounts_user"
        constraints = [
            # Password accounts sign in by e-mail, so one address is one account, whatever its case.
            # Provider accounts are matched by ``sub`` and their e-mail is the provider's business.
            # UPPER, the rule of the sign-in backend's email__iexact: lower() keeps "alıce" (dotless ı)
            # apart from "alice", UPPER() does not, so racing sign-ups cannot make both (issue #21).
            models.UniqueConstraint(
                Upper("email"),
                condition=models.Q(oidc_sub__isnull=True) & ~models.Q(email=""),
                name="accounts_user_password_account_email_upper_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.email or self.username


class Country(models.TextChoices):
    """Countries we deliver to, shared by saved addresses and the checkout (orders imports it)."""

    GB = "GB", "United Kingdom"
    IE = "IE", "Ireland"
    FR = "FR", "France"
    DE = "DE", "Germany"
    NL = "NL", "Netherlands"
    BE = "BE", "Belgium"


class PostalAddress(models.Model):
    """Delivery address fields, shared by saved addresses and orders so a prefill is a plain copy."""

    full_name = models.CharField(max_length=120)
    phone = models.CharField(max_length=32, blank=True)
    address_line1 = models.CharField("address", max_length=120)
    address_line2 = models.CharField("address line 2", max_length=120, blank=True)
    city = models.CharField(max_length=80)
    postcode = models.CharField(max_length=16)
    country = models.CharField(max_length=2, choices=Country.choices, default=Country.GB)

    class Meta:
        abstract = True


# The postal fields in declared order: forms, admin pages and the checkout prefill all use this list.
POSTAL_ADDRESS_FIELDS = tuple(field.name for field in PostalAddress._meta.local_fields)


class Address(PostalAddress):
    """A saved shipping address; the default one prefills checkout.

    Field names match the order's shipping fields so a prefill is a plain dict copy.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="addresses")
    label = models.CharField(max_length=40, blank=True, help_text="For you, e.g. Home or Studio.")
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-is_default", "-created_at", "-pk")
        verbose_name_plural = "addresses"
        constraints = [
            # At most one default per user, enforced by the database.
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="accounts_address_one_default_per_user"
            ),
        ]

    def __str__(self) -> str:
        return ", ".join(part for part in (self.full_name, self.address_line1, self.city, self.postcode) if part)

    def clean(self) -> None:
        self.postcode = " ".join(self.postcode.split()).upper()
