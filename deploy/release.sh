#!/usr/bin/env bash
# Deploys a git ref on the instance, or rolls back to the previous release. Run as root.
#
#   sudo deploy/release.sh v1.4.0        # build, check, migrate, switch, restart, wait for /readyz
#   sudo deploy/release.sh --rollback    # switch back to the release that ran before, restart
#
# Layout: /srv/jewelry/repo (git clone), /srv/jewelry/releases/<sha>/ (code + .venv + staticfiles),
# /srv/jewelry/current -> the live release, /srv/jewelry/previous -> the one before.
# A failed /readyz after the switch rolls back by itself. Migrations are NOT reversed: they must be
# backwards compatible with the previous release (deploy/runbooks/deploy-and-rollback.md).
set -euo pipefail

ROOT=${JEWELRY_ROOT:-/srv/jewelry}
SOCKET=${JEWELRY_SOCKET:-/run/jewelry/gunicorn.sock}
KEEP=${JEWELRY_KEEP_RELEASES:-5}
say() { echo "release: $*"; }

as_app() {
  # The app's environment (settings module, secret ids, AWS key) for manage.py, run as the app user.
  (set -a; . /etc/jewelry/jewelry.env; . /etc/jewelry/aws.env; set +a
   cd "$1" && shift && runuser -u jewelry --preserve-environment -- "$@")
}

wait_ready() {
  for _ in $(seq 1 60); do
    if curl -fsS --max-time 3 --unix-socket "$SOCKET" http://localhost/readyz >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  return 1
}

install_maintenance() {
  # Daily housekeeping (prune_carts, clearsessions): the units come from the release just made live,
  # so every deploy brings them up to date. A rollback leaves them as they are.
  [ -f "$1/deploy/jewelry-maintenance.timer" ] || { say "no maintenance timer in this release: left as it is"; return 0; }
  install -m 0644 "$1/deploy/jewelry-maintenance.service" "$1/deploy/jewelry-maintenance.timer" /etc/systemd/system/
  systemctl daemon-reload
  systemctl enable --now jewelry-maintenance.timer
}

switch_to() {
  local target=$1 current
  current=$(readlink -f "$ROOT/current" || true)
  [ -n "$current" ] && [ "$current" != "$target" ] && ln -sfn "$current" "$ROOT/previous"
  ln -sfn "$target" "$ROOT/current.new" && mv -T "$ROOT/current.new" "$ROOT/current"
  systemctl restart jewelry.service
}

if [ "${1:-}" = "--rollback" ]; then
  previous=$(readlink -f "$ROOT/previous" || true)
  [ -d "$previous" ] || { say "no previous release to roll back to"; exit 1; }
  say "rolling back to $(basename "$previous")"
  switch_to "$previous"
  wait_ready && say "rolled back; /readyz is OK" || { say "rolled back but /readyz fails: see alarms runbook"; exit 1; }
  exit 0
fi

ref=${1:?usage: release.sh GIT_REF | --rollback}
git -C "$ROOT/repo" fetch --quiet --tags origin
sha=$(git -C "$ROOT/repo" rev-parse --verify "$ref^{commit}")
release="$ROOT/releases/$sha"
say "building $ref ($sha)"
if [ ! -d "$release" ]; then
  mkdir -p "$release.tmp"
  git -C "$ROOT/repo" archive "$sha" | tar -x -C "$release.tmp"
  python3 -m venv "$release.tmp/.venv"
  "$release.tmp/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$release.tmp/requirements.txt"
  chown -R jewelry:jewelry "$release.tmp"
  mv "$release.tmp" "$release"
fi

# Fails here, before anything changes, on bad settings or an unreadable secret.
as_app "$release" .venv/bin/python manage.py check --deploy --fail-level WARNING
as_app "$release" .venv/bin/python manage.py collectstatic --noinput -v0
as_app "$release" .venv/bin/python manage.py createcachetable
as_app "$release" .venv/bin/python manage.py migrate --noinput

say "switching to $sha"
switch_to "$release"
if ! wait_ready; then
  say "/readyz did not pass within 60 s: rolling back"
  previous=$(readlink -f "$ROOT/previous" || true)
  if [ -d "$previous" ]; then switch_to "$previous"; wait_ready || true; fi
  exit 1
fi
say "live: $sha; /readyz is OK"
install_maintenance "$release"

# Keep the newest $KEEP releases (never the live or previous one).
live=$(readlink -f "$ROOT/current"); prev=$(readlink -f "$ROOT/previous" || true)
ls -1dt "$ROOT"/releases/*/ | tail -n +"$((KEEP + 1))" | while read -r old; do
  old=${old%/}
  [ "$old" = "$live" ] || [ "$old" = "$prev" ] || rm -rf "$old"
done
