"""How production talks TLS to Postgres: libpq's ``sslmode`` (and ``sslrootcert``) for a database host.

libpq's own default, ``prefer``, falls back to plain text without a word when the server (or someone in
between) does not offer TLS, so a network database gets at least ``require``, and ``verify-full`` (the
certificate chains to the CA bundle and names the host) once ``DJANGO_DB_SSLROOTCERT`` points at the
bundle (the instances' first boot downloads Amazon's RDS bundle, which Lightsail's databases use). A
database on loopback or a Unix socket has no wire to protect and keeps ``prefer``, which is how the
rehearsals and bench run production settings against a local cluster. An explicit ``DJANGO_DB_SSLMODE``
wins, but one that can fall back to plain text is refused for a network host.
"""

import ipaddress

LOOPBACK_NAMES = frozenset({"", "localhost"})
WEAK_MODES = frozenset({"disable", "allow", "prefer"})
MODES = WEAK_MODES | {"require", "verify-ca", "verify-full"}


class DatabaseTlsError(ValueError):
    """The configured TLS mode is unknown, or lets a network connection go unencrypted."""


def is_local(host: str) -> bool:
    """Loopback or a Unix socket (an empty host is libpq's default socket). A name such as
    ``127.example.com`` is a network host: only a literal loopback address counts."""
    if host in LOOPBACK_NAMES or host.startswith("/"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ssl_options(*, host: str, sslmode: str = "", sslrootcert: str = "") -> dict[str, str]:
    """libpq options for ``host``: ``sslmode`` always, ``sslrootcert`` when a bundle is given."""
    if sslmode and sslmode not in MODES:
        raise DatabaseTlsError(f"DJANGO_DB_SSLMODE={sslmode!r} is not a libpq sslmode ({', '.join(sorted(MODES))})")
    if sslmode in WEAK_MODES and not is_local(host):
        raise DatabaseTlsError(
            f"DJANGO_DB_SSLMODE={sslmode} would let the connection to {host} fall back to plain text; "
            "use require, or verify-full with DJANGO_DB_SSLROOTCERT"
        )
    if not sslmode:
        sslmode = "prefer" if is_local(host) else ("verify-full" if sslrootcert else "require")
    options = {"sslmode": sslmode}
    if sslrootcert:
        options["sslrootcert"] = sslrootcert
    return options
