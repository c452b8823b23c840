#!/usr/bin/env bash
# Checks the live release against the current secrets and database in a separate process, without
# touching the running service: run it after changing a secret and before `systemctl restart jewelry`.
#   sudo deploy/check-live.sh
set -euo pipefail
ROOT=${JEWELRY_ROOT:-/srv/jewelry}
set -a; . /etc/jewelry/jewelry.env; . /etc/jewelry/aws.env; set +a
cd "$ROOT/current"
runuser -u jewelry --preserve-environment -- .venv/bin/python manage.py check --deploy --fail-level WARNING
# Connects with the user and password from DB_PASSWORD, and fails on unapplied migrations.
runuser -u jewelry --preserve-environment -- .venv/bin/python manage.py migrate --check
echo "check-live: OK (settings, secrets and database connection); safe to restart"
