#!/usr/bin/env bash
# Deploys a git ref on the instance, or rolls back to the previous release. Run as root.
#
#   sudo deploy/release.sh main          # the remote's main as fetched now (origin/main), never a stale local branch
#   sudo deploy/release.sh v1.4.0        # a tag, or a commit sha
#   sudo deploy/release.sh --rollback    # switch back to the release that ran before, restart
#   sudo deploy/release.sh --prepare main  # everything but the switch: build, checks, static, migrate
#
# Two or three instances (runbooks/deploy-and-rollback.md): `--prepare REF` on every instance first
# (code and static everywhere; the first to reach migrate migrates under a Postgres advisory lock, the
# others wait, then find nothing to do), then `release.sh REF` on one instance at a time.
#
# Layout: /srv/jewelry/repo (git clone), /srv/jewelry/releases/<sha>/ (code, REVISION, staticfiles,
# .venv -> ../../venvs/<hash of requirements.lock>, a virtualenv built in place and shared by releases
# with the same pins), /srv/jewelry/current -> the live release, /srv/jewelry/previous -> the one
# before (never the live one, never one that failed).
# Steps: fetch, resolve, build (once per commit), check --deploy, collectstatic, createcachetable and
# migrate under a Postgres advisory lock; any failure stops here and the live release is untouched. Then install the release's
# systemd units, switch `current`, restart, and wait for /readyz to name the new commit; if it does
# not, switch back by itself (and `previous` keeps naming what it named). Migrations are NOT
# reversed: they must be backwards compatible with the previous release (runbooks/deploy-and-rollback.md).
#
# JEWELRY_PREFIX (empty on an instance) puts every path under another root folder: the release
# rehearsal (tests/deploy/test_release_rehearsal.py) runs this script against a throwaway one.
# JEWELRY_SYSTEMCTL (default systemctl), JEWELRY_PIP_OPTIONS (e.g. --no-index --find-links DIR),
# JEWELRY_USER (jewelry), JEWELRY_PYTHON (/usr/bin/python3), JEWELRY_READY_SECONDS (60), JEWELRY_KEEP_RELEASES (5).
set -euo pipefail
shopt -s nullglob

PREFIX=${JEWELRY_PREFIX:+$(realpath -m "$JEWELRY_PREFIX")}
ROOT=$PREFIX/srv/jewelry
ETC=$PREFIX/etc/jewelry
UNIT_DIR=$PREFIX/etc/systemd/system
LOG_DIR=$PREFIX/var/log/jewelry
SOCKET=$PREFIX/run/jewelry/gunicorn.sock
APP_USER=${JEWELRY_USER:-jewelry}
KEEP=${JEWELRY_KEEP_RELEASES:-5}
READY_SECONDS=${JEWELRY_READY_SECONDS:-60}
# Debian's interpreter (python3-venv), the one the instance has, not whatever python3 a PATH finds.
PYTHON=${JEWELRY_PYTHON:-/usr/bin/python3}
read -r -a SYSTEMCTL <<<"${JEWELRY_SYSTEMCTL:-systemctl}"
read -r -a PIP_OPTIONS <<<"${JEWELRY_PIP_OPTIONS:-}"
say() { echo "release: $*"; }
# The lock's descriptor (9) is closed for systemctl: a service it starts must not inherit and hold it.
sysctl() { "${SYSTEMCTL[@]}" "$@" 9>&-; }
die() { echo "release: $*" >&2; exit 1; }

# Root's, readable by all: the app user runs releases but cannot swap `current` or edit code, and
# nginx (www-data) must reach MAINTENANCE and current/deploy/maintenance.html.
install -d -o root -g root -m 0755 "$ROOT" "$ROOT/releases"
# One release at a time: a second run waits for nothing and changes nothing.
exec 9>"$ROOT/.release.lock"
flock -n 9 || die "another release.sh is running (lock $ROOT/.release.lock): nothing changed"

as_app() {
  # The app's environment (settings module, secret ids, AWS key) for manage.py, run as the app user.
  # A missing env file stops the command (manage.py then has no settings module and refuses too).
  (set -a && . "$ETC/jewelry.env" && . "$ETC/aws.env" && set +a &&
    cd "$1" && shift && runuser -u "$APP_USER" --preserve-environment -- "$@")
}

wait_ready() {
  # /readyz must answer 200 *from the release just started* (its REVISION), not from a process that
  # survived the restart. Bounded: READY_SECONDS tries, each at most 3 s; a service seen not running
  # five times (gunicorn exits at once on a broken config) fails sooner.
  local expected body down=0
  expected=$(cat "$1/REVISION" 2>/dev/null || true)
  for _ in $(seq 1 "$READY_SECONDS"); do
    if body=$(curl -fsS --max-time 3 --unix-socket "$SOCKET" http://localhost/readyz 2>/dev/null) &&
      { [ -z "$expected" ] || [[ $body == *"\"release\": \"$expected\""* ]]; }; then
      return 0
    fi
    if ! sysctl is-active --quiet jewelry.service >/dev/null 2>&1; then
      down=$((down + 1))
      [ "$down" -lt 5 ] || return 1
    fi
    sleep 1
  done
  return 1
}

unit_files() { # every systemd unit a release ships, by name
  find "$1/deploy" -maxdepth 1 -type f \( -name '*.service' -o -name '*.socket' -o -name '*.timer' \) -printf '%f\n' | sort
}

install_units() {
  # The units in force always come from the live release: every deploy and rollback installs that
  # release's deploy/*.service|*.socket|*.timer, enables what has an [Install] section (timers and
  # sockets started at once), and removes units an earlier release installed that this one no longer ships.
  local release=$1 name
  local manifest="$ROOT/units.installed"
  mkdir -p "$UNIT_DIR"
  unit_files "$release" >"$ROOT/units.new"
  if [ -f "$manifest" ]; then
    comm -23 "$manifest" "$ROOT/units.new" | while read -r name; do
      say "removing unit $name (not in this release)"
      sysctl disable --now "$name" || true
      rm -f "$UNIT_DIR/$name"
    done
  fi
  while read -r name; do
    # With a prefix, the paths the units name move under it too (identity on an instance).
    sed -E "s#/(srv|etc|var/log|run)/jewelry#$PREFIX&#g" "$release/deploy/$name" >"$UNIT_DIR/$name.new"
    chmod 0644 "$UNIT_DIR/$name.new" && mv -f "$UNIT_DIR/$name.new" "$UNIT_DIR/$name"
  done <"$ROOT/units.new"
  sysctl daemon-reload
  while read -r name; do
    grep -q '^\[Install\]' "$UNIT_DIR/$name" || continue
    case $name in
      *.timer | *.socket) sysctl enable --now "$name" ;;
      *) sysctl enable "$name" ;;
    esac
  done <"$ROOT/units.new"
  mv -f "$ROOT/units.new" "$manifest"
}

switch_to() {
  # current -> $1 atomically, its units installed, the shop restarted; `previous` is not touched here.
  install_units "$1"
  ln -sfn "$1" "$ROOT/current.new" && mv -T "$ROOT/current.new" "$ROOT/current"
  # Its exit status is not the verdict (a service may die just after starting): /readyz is.
  sysctl restart jewelry.service || say "systemctl restart jewelry.service failed"
  # Other long-running services the release enables (the e-mail worker) must run its code too.
  local name
  while read -r name; do
    case $name in jewelry.service | *.timer | *.socket) continue ;; esac
    grep -q '^\[Install\]' "$UNIT_DIR/$name" || continue
    sysctl restart "$name" || say "systemctl restart $name failed"
  done <"$ROOT/units.installed"
}

point_previous() { # previous -> $1, or no previous at all
  if [ -n "$1" ]; then ln -sfn "$1" "$ROOT/previous.new" && mv -T "$ROOT/previous.new" "$ROOT/previous"; else rm -f "$ROOT/previous"; fi
}

live=$(readlink -e "$ROOT/current" || true)
previous=$(readlink -e "$ROOT/previous" || true)
install -d -o "$APP_USER" -g "$APP_USER" -m 0750 "$LOG_DIR"

if [ "${1:-}" = "--rollback" ]; then
  [ -n "$previous" ] && [ "$previous" != "$live" ] || die "no previous release to roll back to"
  say "rolling back from $(basename "${live:-none}") to $(basename "$previous")"
  switch_to "$previous"
  # The release we left is suspect: no pointer names it. Going forward again is `release.sh <its sha>`.
  point_previous ""
  wait_ready "$previous" && say "rolled back; /readyz is OK" || die "rolled back but /readyz fails: see alarms runbook"
  exit 0
fi

prepare_only=""
if [ "${1:-}" = "--prepare" ]; then
  prepare_only=1
  shift
fi
ref=${1:?usage: release.sh [--prepare] BRANCH|TAG|SHA | --rollback}
repo=$ROOT/repo
git -C "$repo" fetch --quiet --prune --tags --force origin
# The remote's branch as just fetched, else a tag, else a commit sha; a local branch (which fetch
# never moves) is never used.
sha=""
for candidate in "refs/remotes/origin/$ref" "refs/tags/$ref"; do
  sha=$(git -C "$repo" rev-parse -q --verify "$candidate^{commit}" || true)
  [ -n "$sha" ] && break
done
if [ -z "$sha" ] && [[ $ref =~ ^[0-9a-f]{7,40}$ ]]; then
  sha=$(git -C "$repo" rev-parse -q --verify "$ref^{commit}" || true)
fi
[ -n "$sha" ] || die "$ref is neither a branch of origin, a tag nor a commit: nothing changed"
release="$ROOT/releases/$sha"
say "building $ref ($sha)"

requirements_of() { # the file a release's venv is built from: its hashed lock, else (older releases) requirements.txt
  if [ -f "$1/requirements.lock" ]; then echo "$1/requirements.lock"; else echo "$1/requirements.txt"; fi
}

build_venv() {
  # One virtualenv per lock file (and Python), shared by the releases that pin the same packages, so
  # a code-only deploy or rollback installs nothing. From requirements.lock (`make lock`): every
  # package, transitive ones too, at its locked version, binary wheels only, each checked against its
  # hash, so what runs is what `make test` ran, whatever the registry serves today. Built where it
  # will run and never moved: its scripts (gunicorn's too) name its own python in their shebang. A
  # half-built one (no .complete) is started over. Owned by root: the app user can run it but not change it.
  local venv=$1 requirements
  requirements=$(requirements_of "$2")
  [ -f "$venv/.complete" ] && return 0
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  if [ "${requirements##*/}" = requirements.lock ]; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
      "${PIP_OPTIONS[@]}" -r "$requirements"
  else
    say "no requirements.lock in this release (older than the lock): installing requirements.txt without hashes"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${PIP_OPTIONS[@]}" -r "$requirements"
  fi
  touch "$venv/.complete"
}

publish_static() {
  # /srv/jewelry/static -> a folder of the hashed static files (name.<12 hex>.ext, immutable) of every
  # release kept here, collected or only prepared; nginx serves /static/ from it first (deploy/nginx.conf).
  # While instances run different releases (the switch, one instance at a time) a page from either
  # release finds its CSS and scripts on every instance, and a rollback's pages find theirs. Hard links:
  # no copies. Rebuilt whole and swapped by a link, so nginx never sees it half-made.
  local set="$ROOT/static-sets/$(date +%s%N)" dir
  mkdir -p "$set/static"
  for dir in "$ROOT"/releases/*/staticfiles; do
    [ -f "$dir/staticfiles.json" ] || continue
    (cd "$dir" && find . -type f -regextype posix-extended -regex '.*/[^/]+\.[0-9a-f]{12}(\.[^/.]+)+' -print0 |
      xargs -0 -r cp -l -n --parents -t "$set/static")
  done
  chmod -R a+rX "$set"
  ln -sfn "$set" "$ROOT/static.new" && mv -T "$ROOT/static.new" "$ROOT/static"
  for dir in "$ROOT"/static-sets/*; do
    [ "$dir" = "$set" ] || rm -rf "$dir"
  done
}

if [ ! -f "$release/.complete" ]; then
  built=$SECONDS
  # Code as the commit has it plus REVISION (the sha /readyz reports); root-owned, read-only to the
  # app, which writes only staticfiles/ (collectstatic) here.
  rm -rf "$release"
  mkdir -p "$release"
  git -C "$repo" archive "$sha" | tar -x --no-same-owner -C "$release"
  echo "$sha" >"$release/REVISION"
  key=$( { cat "$(requirements_of "$release")"; "$PYTHON" -VV; } | sha256sum | cut -c1-16)
  mkdir -p "$ROOT/venvs"
  build_venv "$ROOT/venvs/$key" "$release"
  ln -s "../../venvs/$key" "$release/.venv"
  install -d -o "$APP_USER" -g "$APP_USER" -m 0755 "$release/staticfiles"
  touch "$release/.complete"
  say "built $release ($((SECONDS - built)) s)"
fi

# Fails here, before anything changes, on bad settings, an unreadable secret or a failing migration.
step() { # step NAME COMMAND...: one manage.py command as the app user, timed; a failure refuses the release
  local name=$1 started=$SECONDS
  shift
  as_app "$release" .venv/bin/python manage.py "$@" || die "$name failed: $sha refused, live release untouched"
  say "$name: OK ($((SECONDS - started)) s)"
}
step "check --deploy" check --deploy --fail-level WARNING
step collectstatic collectstatic --noinput -v0
# Under one Postgres advisory lock (manage.py migrate_locked): with 2-3 instances on one database,
# the instance that comes second waits, then finds nothing to do; the flock above is per instance.
step migrate migrate_locked
publish_static

if [ -n "$prepare_only" ]; then
  say "prepared $sha (built, checked, static published, migrated); switch with: release.sh $sha"
  exit 0
fi

if [ "$release" = "$live" ]; then
  say "$sha is already live: restarting it"
  switch_to "$release"
  wait_ready "$release" || die "$sha restarted but /readyz fails: see alarms runbook"
  exit 0
fi

say "switching to $sha"
switched=$SECONDS
switch_to "$release"
if ! wait_ready "$release"; then
  if [ -n "$live" ]; then
    say "/readyz did not name $sha within $READY_SECONDS s: switching back to $(basename "$live")"
    switch_to "$live"
    wait_ready "$live" || say "the release before does not answer /readyz either: see alarms runbook"
  fi
  # `previous` still names what it named before this run: never the broken release, never the live one.
  die "$sha refused: it did not become ready"
fi
point_previous "$live"
say "live: $sha; /readyz is OK ($((SECONDS - switched)) s after the switch)"

# Keep the newest $KEEP releases (never the live or previous one), and the venvs they use.
live=$release
previous=$(readlink -e "$ROOT/previous" || true)
find "$ROOT/releases" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | tail -n +"$((KEEP + 1))" |
  while read -r _ old; do
    [ "$old" = "$live" ] || [ "$old" = "$previous" ] || rm -rf "$old"
  done
publish_static  # without the releases just pruned
used=$(for link in "$ROOT"/releases/*/.venv; do readlink -e "$link" || true; done)
for venv in "$ROOT"/venvs/*/; do
  # Compared by real path: `used` holds resolved links, and venvs/ may itself be a link.
  venv=$(readlink -e "${venv%/}") || continue
  grep -qxF "$venv" <<<"$used" || rm -rf "$venv"
done
