"""Password sign-in backends: the lockout check (django-axes) and sign-in by username or e-mail address.

Both act only on a username + password sign-in: the OpenID Connect callback authenticates with a
nonce and a code verifier, and neither backend has anything to say about it (the provider has its
own limits, and a lockout of the shop's password form must not lock provider sign-ins too).
"""

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class PasswordLockoutBackend(AxesStandaloneBackend):
    """First in AUTHENTICATION_BACKENDS: refuses a locked-out password sign-in before any hashing."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        # No request: a call from our own code (a management command, a test), not a sign-in form;
        # every view that signs people in passes its request.
        if password is None or request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class EmailOrUsernameBackend(ModelBackend):
    """Django's ModelBackend, also finding a password account by its e-mail address (any case)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        if "@" not in username:
            return super().authenticate(request, username=username, password=password, **kwargs)
        users = get_user_model()._default_manager.filter(email__iexact=username.strip(), oidc_sub__isnull=True)
        # The database keeps password accounts' e-mails unique; two matches would be a broken invariant.
        matches = list(users[:2])
        if len(matches) != 1:
            # Same cost as a real check, so timing does not reveal whether the address has an account.
            get_user_model()().set_password(password)
            return None
        user = matches[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
