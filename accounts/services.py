"""Account business logic: keeping users in step with the identity provider, saved addresses."""

import hashlib
import logging
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import IntegrityError, transaction
from django.db.models import Q

from shop_text import text_one_line

from .models import POSTAL_ADDRESS_FIELDS, Address

security_log = logging.getLogger("shop.security")

NAME_MAX = 150  # AbstractUser first_name / last_name


def _verified(value: Any) -> bool:
    # Cognito's ID token says true; its userInfo endpoint says "true" (a string).
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _names(claims: Mapping[str, Any]) -> tuple[str, str]:
    # One clean line each (shop_text): the provider lets shoppers type their own names, and a control or
    # right-to-left override would reach the admin's lists and the order pages as typed.
    given = text_one_line(claims.get("given_name") or "")
    family = text_one_line(claims.get("family_name") or "")
    if not (given or family):
        given, _, family = text_one_line(claims.get("name") or "").partition(" ")
    return given[:NAME_MAX], family.strip()[:NAME_MAX]


def _groups(claims: Mapping[str, Any], groups_claim: str) -> set[str]:
    groups = claims.get(groups_claim) or []
    if isinstance(groups, str):
        groups = groups.split()
    return {str(group) for group in groups} if isinstance(groups, list | tuple | set) else set()


def oidc_username(*, sub: str) -> str:
    """A stable username for a provider account (usernames are shown in the admin, so no e-mail)."""
    return "oidc-" + hashlib.sha256(sub.encode()).hexdigest()[:32]


def _user_for_sub(*, sub: str):
    """The user with this provider subject, locked; created (password unusable) if there is none."""
    User = get_user_model()  # noqa: N806
    user = User.objects.select_for_update().filter(oidc_sub=sub).first()
    if user is not None:
        return user, False
    user = User(oidc_sub=sub, username=oidc_username(sub=sub))
    user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # The same person's first sign-in completed in another tab a moment ago.
        return User.objects.select_for_update().get(oidc_sub=sub), False
    return user, True


@transaction.atomic
def user_sync_from_oidc(*, claims: Mapping[str, Any], staff_group: str, groups_claim: str):
    """Find (by ``sub``) or create the user for verified provider claims and bring it up to date.

    E-mail is taken only when the provider says it is verified (an unverified one leaves the stored
    address alone). Staff status follows membership of ``staff_group`` or of a role group
    (``STAFF_ROLES``) at every sign-in, so removal from the groups revokes admin access the next time
    the person signs in. Membership is mirrored in the Django groups of the same names, whose
    permissions are what staff may do in the admin. Superuser status is never given here: only by hand.
    """
    user, created = _user_for_sub(sub=claims["sub"])
    email = str(claims.get("email") or "")
    if _verified(claims.get("email_verified")) and email and len(email) <= 254:
        user.email = email
    user.first_name, user.last_name = _names(claims)
    provider_groups = _groups(claims, groups_claim)
    staff_groups = staff_groups_for(provider_groups=provider_groups, staff_group=staff_group)
    is_staff = bool(staff_groups)
    staff_changed = not created and user.is_staff != is_staff
    user.is_staff = is_staff
    user.save()

    managed = {staff_group, *STAFF_ROLES}
    user.groups.add(*(staff_group_ensure(name=name, staff_group=staff_group) for name in sorted(staff_groups)))
    user.groups.remove(*Group.objects.filter(name__in=managed - staff_groups))

    if created:
        security_log.info("oidc_user_created", extra={"event": "oidc_user_created", "user_id": user.pk})
    if staff_changed or (created and is_staff):
        event = "oidc_staff_granted" if is_staff else "oidc_staff_revoked"
        security_log.warning(
            event, extra={"event": event, "user_id": user.pk, "group": staff_group, "roles": sorted(staff_groups)}
        )
    return user


# --- Staff roles (issue 15: least privilege) ------------------------------------------------------
# Each provider group below makes its members staff with just what that job needs; the provider's
# ``staff_group`` (Cognito "staff", kept for existing pools) is both roles together. Nobody gets the
# cart, user or group admin, or may delete orders or stock history: those stay with superusers, who
# are made only by hand (``createsuperuser`` / the break-glass runbook), never from a provider claim.
# Permissions are (app_label, codename); accounts names them without importing the shop's apps.
CATALOGUE_EDITORS = "catalogue-editors"
ORDER_HANDLERS = "order-handlers"
_CATALOGUE_MODELS = ("category", "collection", "product", "productvariant", "productimage")
STAFF_ROLES: dict[str, frozenset[tuple[str, str]]] = {
    CATALOGUE_EDITORS: frozenset(
        {("catalog", f"{verb}_{model}") for model in _CATALOGUE_MODELS for verb in ("add", "change", "delete", "view")}
        | {("catalog", "view_stockadjustment"), ("orders", "view_lowstockvariant")}
    ),
    ORDER_HANDLERS: frozenset(
        {
            ("orders", "view_order"),
            ("orders", "change_order"),  # the status workflow and bulk status actions
            ("orders", "export_order"),  # the shipping CSV: names, addresses, phones
            ("orders", "view_orderline"),
            ("orders", "view_orderevent"),
            ("orders", "view_lowstockvariant"),
            ("catalog", "view_product"),
            ("catalog", "view_productvariant"),
            ("catalog", "view_stockadjustment"),
        }
    ),
}


def staff_groups_for(*, provider_groups: set[str], staff_group: str) -> set[str]:
    """The staff-making groups among a person's provider groups (exact names; none: not staff)."""
    return provider_groups & {staff_group, *STAFF_ROLES}


def staff_without_second_factor(*, claims: Mapping[str, Any], staff_group: str, groups_claim: str) -> bool:
    """True when the claims make someone staff but the provider does not say a second factor was used.

    OIDC's ``amr`` (RFC 8176) lists the methods used; Cognito writes ``["pwd", "otp", "mfa"]`` after a
    TOTP code. A missing or malformed ``amr`` counts as no second factor: a staff account opens orders,
    addresses and the catalogue, so a stolen password alone must not be enough.
    """
    if not staff_groups_for(provider_groups=_groups(claims, groups_claim), staff_group=staff_group):
        return False
    methods = claims.get("amr")
    return not (isinstance(methods, list | tuple) and "mfa" in methods)


def staff_role_permissions(*, name: str, staff_group: str) -> frozenset[tuple[str, str]]:
    """What members of this group may do: a role's own set; the plain staff group gets every role's."""
    if name in STAFF_ROLES:
        return STAFF_ROLES[name]
    if name == staff_group:
        return frozenset().union(*STAFF_ROLES.values())
    return frozenset()


def staff_group_ensure(*, name: str, staff_group: str = "staff") -> Group:
    """The Django group mirroring a provider group; created with its role's permissions once, after which
    a superuser may change them in the admin (they are never reset)."""
    group, created = Group.objects.get_or_create(name=name)
    if created:
        wanted = Q(pk__in=[])
        for app_label, codename in staff_role_permissions(name=name, staff_group=staff_group):
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(Permission.objects.filter(wanted))
    return group


# --- Saved addresses ------------------------------------------------------------------


def _lock_user(user_id: int) -> None:
    # One writer per user at a time, so two tabs cannot both create "the first" default address.
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()


ADDRESS_FIELDS = ("label", *POSTAL_ADDRESS_FIELDS)


@transaction.atomic
def address_create(*, user, data: Mapping[str, Any], make_default: bool = False) -> Address:
    """Save a new address for ``user``; the first one becomes the default."""
    _lock_user(user.pk)
    has_default = Address.objects.filter(user=user, is_default=True).exists()
    address = Address(user=user, **{field: data[field] for field in ADDRESS_FIELDS if field in data})
    if make_default and has_default:
        Address.objects.filter(user=user, is_default=True).update(is_default=False)
    address.is_default = make_default or not has_default
    address.full_clean()
    address.save()
    return address


@transaction.atomic
def address_update(*, address: Address, data: Mapping[str, Any], make_default: bool = False) -> Address:
    """Change a saved address (the caller has checked ownership)."""
    _lock_user(address.user_id)  # first, like every address write: see address_delete
    # is_default as it is now, not as loaded: another tab may have moved the default (or deleted this).
    current = Address.objects.filter(pk=address.pk).values_list("is_default", flat=True).first()
    if current is None:
        raise Address.DoesNotExist("That address has just been removed.")
    address.is_default = current
    for field in ADDRESS_FIELDS:
        if field in data:
            setattr(address, field, data[field])
    address.full_clean()
    address.save(update_fields=list(ADDRESS_FIELDS))
    if make_default and not address.is_default:
        address_set_default(address=address)
    return address


@transaction.atomic
def address_set_default(*, address: Address) -> Address:
    """Make ``address`` its owner's default, unsetting the previous one.

    Raises ``Address.DoesNotExist`` if another tab deleted it meanwhile (nothing is changed then)."""
    _lock_user(address.user_id)
    if not Address.objects.filter(pk=address.pk).exists():
        raise Address.DoesNotExist("That address has just been removed.")
    Address.objects.filter(user_id=address.user_id, is_default=True).exclude(pk=address.pk).update(is_default=False)
    Address.objects.filter(pk=address.pk).update(is_default=True)
    address.is_default = True
    return address


@transaction.atomic
def address_delete(*, address: Address) -> None:
    """Delete an address; if it was the default, the newest remaining one takes over.

    The owner's row is locked before any address row, as in ``address_set_default``: taking them the
    other way round (delete, then lock the user) deadlocked against a second tab setting a default."""
    user_id = address.user_id
    _lock_user(user_id)
    # Read under the lock: another tab may have moved the default since this address was loaded.
    was_default = Address.objects.filter(pk=address.pk, is_default=True).exists()
    Address.objects.filter(pk=address.pk).delete()
    if was_default:
        successor = Address.objects.filter(user_id=user_id).order_by("-created_at", "-pk").first()
        if successor is not None:
            address_set_default(address=successor)


class EmailTaken(Exception):  # noqa: N818 - a refusal the sign-up form shows
    """A password account already uses this e-mail address (any case)."""


def user_sign_up(*, email: str, password: str, first_name: str, last_name: str = ""):
    """Create a password account (embedded default); its e-mail is unique among password accounts."""
    User = get_user_model()  # noqa: N806
    local = email.split("@", 1)[0][:100]
    username = email.lower() if len(email) <= 150 else local
    try:
        with transaction.atomic():
            if User.objects.filter(username=username).exists():
                username = f"{local}-{hashlib.sha256(email.lower().encode()).hexdigest()[:8]}"
            # The database's unique index on lower(email) settles two sign-ups racing with one address.
            return User.objects.create_user(
                username, email=email, password=password, first_name=first_name, last_name=last_name
            )
    except IntegrityError as exc:
        if User.objects.filter(email__iexact=email, oidc_sub__isnull=True).exists():
            raise EmailTaken from exc
        raise
