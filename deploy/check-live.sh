#!/usr/bin/env bash
# Checks the live release against the current secrets and database in a separate process, without
# touching the running service: run it after changing a secret or the database URL, and before
# `systemctl restart jewelry`.
#   sudo deploy/check-live.sh
# JEWELRY_PREFIX puts the paths under another root folder, as for release.sh (the rehearsal runs it).
set -euo pipefail
PREFIX=${JEWELRY_PREFIX:-}
ROOT=$PREFIX/srv/jewelry
ETC=$PREFIX/etc/jewelry
APP_USER=${JEWELRY_USER:-jewelry}
set -a; . "$ETC/jewelry.env"; . "$ETC/aws.env"; set +a
cd "$ROOT/current"
runuser -u "$APP_USER" --preserve-environment -- .venv/bin/python manage.py check --deploy --fail-level WARNING
# Connects with the user and password from DB_PASSWORD, and fails on unapplied migrations.
runuser -u "$APP_USER" --preserve-environment -- .venv/bin/python manage.py migrate --check
echo "check-live: OK ($(cat REVISION 2>/dev/null || echo 'no REVISION'): settings, secrets and database connection); safe to restart"
