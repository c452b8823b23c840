#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Without DJANGO_SETTINGS_MODULE (or --settings) the development settings are used only inside a
developer's source checkout (a git work tree); a release made by deploy/release.sh (no .git, a
REVISION file) or any other copy refuses to run, so production never silently gets DEBUG on.
"""

import os
import sys
from pathlib import Path

DEV_SETTINGS = "jewelry_site.settings.dev"


def developer_checkout(base: Path) -> bool:
    """A git work tree that is not a release: the only place where dev settings are a safe default."""
    return (base / ".git").exists() and not (base / "REVISION").exists()


def main() -> None:
    named = os.environ.get("DJANGO_SETTINGS_MODULE") or any(arg.startswith("--settings") for arg in sys.argv[1:])
    if not named:
        if not developer_checkout(Path(__file__).resolve().parent):
            sys.exit(
                "manage.py: set DJANGO_SETTINGS_MODULE (or --settings): outside a developer's source checkout "
                "there is no default (on an instance it comes from /etc/jewelry/jewelry.env)."
            )
        os.environ["DJANGO_SETTINGS_MODULE"] = DEV_SETTINGS
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
