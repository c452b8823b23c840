"""Forms for the password accounts of the embedded default (Cognito off): sign-in, sign-up, reset."""

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode

from mailqueue.services import mail_send

from .text_rules import PlainTextField

RESET_MAIL_KIND = "password-reset"


class SignInForm(AuthenticationForm):
    """Django's sign-in form; the name box takes an e-mail address too (accounts.backends)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": (
            "Please enter a correct e-mail address (or username) and password. Both may be case-sensitive."
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "E-mail address or username"
        self.fields["username"].max_length = 254
        self.fields["username"].widget.attrs.update({"maxlength": 254, "autocomplete": "username"})


class SignUpForm(forms.Form):
    """A new password account: e-mail (unique, any case), name, and a password checked by the validators."""

    email = forms.EmailField(
        label="E-mail address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    # The address rules (no controls, bidi overrides, zero-width characters or emoji): a name is shown to
    # staff in the admin and on orders, where a right-to-left override would make it read as something else.
    first_name = PlainTextField(
        label="First name", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = PlainTextField(
        label="Last name", max_length=150, required=False, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not only numbers, and not a common password.",
    )
    password2 = forms.CharField(
        label="Password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    ALREADY_REGISTERED = "An account already uses this e-mail address. Sign in, or reset your password."

    def clean_email(self) -> str:
        email = get_user_model().objects.normalize_email(self.cleaned_data["email"].strip())
        if get_user_model().objects.filter(email__iexact=email, oidc_sub__isnull=True).exists():
            raise forms.ValidationError(self.ALREADY_REGISTERED, code="duplicate_email")
        return email

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords do not match.")
        elif first:
            candidate = get_user_model()(
                email=cleaned.get("email", ""),
                first_name=cleaned.get("first_name", ""),
                last_name=cleaned.get("last_name", ""),
            )
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


def password_reset_url(*, uidb64: str, token: str) -> str:
    """The e-mailed link: on the shop's own address (never the request's Host), its token in the query string."""
    query = urlencode({"u": uidb64, "t": token})
    return settings.SHOP_SITE_URL.rstrip("/") + reverse("accounts:password-reset-link") + "?" + query


class ResetForm(PasswordResetForm):
    """Django's reset form, worded like the shop's other forms; its e-mail goes through the mail queue.

    Queued, not sent: the request does no SMTP work, so a known address answers as fast as an unknown
    one (no timing oracle), and a slow or failing mail server costs the shopper nothing but a retry.
    The link is built from SHOP_SITE_URL, so a forged Host header cannot send the shopper elsewhere.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].label = "E-mail address"

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        mail_send(
            to=to_email,
            subject=subject,
            template="registration/email/password_reset",
            context={
                "site_name": context.get("site_name", settings.SHOP_NAME),
                "reset_url": password_reset_url(uidb64=context["uid"], token=context["token"]),
                "valid_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
            },
            kind=RESET_MAIL_KIND,
            reference=f"password-reset-{context['user'].pk}",
        )
