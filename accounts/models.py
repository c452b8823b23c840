from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The shop's user, custom from the first migration so it can grow without a painful swap.

    ``oidc_sub`` is the identity provider's stable subject id; sign-ins through Cognito match on it,
    never on e-mail (an address can change hands).
    """

    oidc_sub = models.CharField(max_length=255, unique=True, null=True, blank=True, editable=False)

    class Meta:
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.get_full_name() or self.email or self.username
