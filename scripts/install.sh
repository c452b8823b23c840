#!/usr/bin/env bash
# Installs what a target needs and is missing, so `make run` / `make test` work on a fresh Debian.
#
#   scripts/install.sh run    # Python venv with the runtime lock (requirements.lock, hashes checked)
#   scripts/install.sh test   # + the dev lock (requirements-dev.lock), Postgres 15, redis-server, Chromium, Node/npm packages for tests,
#                             #   checkov in .venv-tools (requirements-tools.txt)
#   scripts/install.sh bench  # + wrk
#
# Each step checks first and does nothing when the thing is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-run}
VENV=${VENV:-.venv}

apt_missing=()
need_deb() { # need_deb PACKAGE PATH-THAT-PROVES-IT
  [ -e "$2" ] || apt_missing+=("$1")
}

python_bin() {
  for p in python3.11 python3; do command -v "$p" >/dev/null && { echo "$p"; return; }; done
}
PY=$(python_bin || true)
[ -n "$PY" ] || need_deb python3 /usr/bin/python3
"${PY:-python3}" -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)

if [ "$target" = test ] || [ "$target" = bench ]; then
  need_deb postgresql-15 /usr/lib/postgresql/15/bin/initdb
  need_deb chromium /usr/bin/chromium
  need_deb nodejs /usr/bin/node
  need_deb systemd /usr/bin/systemd-analyze  # tests verify the deploy/ units with it
  command -v npm >/dev/null || need_deb npm /usr/bin/npm
  # The release rehearsal (tests/deploy/test_release_rehearsal.py): the web server in front of
  # gunicorn, and systemd-analyze to verify every unit (the package's services are not started here).
  need_deb nginx /usr/sbin/nginx
  need_deb systemd /usr/bin/systemd-analyze
  need_deb curl /usr/bin/curl
  # tests/deploy/test_logrotate.py runs the shipped deploy/logrotate.conf with the real binary.
  need_deb logrotate /usr/sbin/logrotate
  # Rate-limit counters in Redis (tests/security/test_ratelimit_atomic.py starts a throwaway one on loopback).
  need_deb redis-server /usr/bin/redis-server
  # release.sh builds the release's venv with Debian's python3, as on an instance.
  /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || apt_missing+=(python3-venv)
fi
if [ "$target" = bench ]; then
  need_deb wrk /usr/bin/wrk
fi

if [ ${#apt_missing[@]} -gt 0 ]; then
  echo "install: apt packages: ${apt_missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi
PY=$(python_bin)

# From the hashed lock files (`make lock` writes them from requirements*.txt): every package, the
# transitive ones too, at the locked version and with a hash pip checks. Runtime: binary wheels only,
# as release.sh installs them on an instance. Dev/test: wheels preferred, but the lock also allows
# the sdists of the test tools that publish no wheel (localstripe; see deploy/README.md).
lock=requirements.lock
binary=(--only-binary :all:)
if [ "$target" != run ]; then
  lock=requirements-dev.lock
  binary=(--prefer-binary)
fi
for file in requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock; do
  [ -f "$file" ] || { echo "install: $file is missing (make lock writes the .lock files)" >&2; exit 1; }
done
stamp="$VENV/.installed-$(cat requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock | sha256sum | cut -c1-16)-$target"
if [ ! -e "$stamp" ]; then
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  echo "install: pip install --require-hashes -r $lock"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes "${binary[@]}" -r "$lock" 2>&1 | { grep -v "is ignored: it is neither" || true; }
  [ "${PIPESTATUS[0]}" = 0 ] || exit 1
  touch "$stamp"
fi

# checkov (template checks in `make test`) in a virtualenv of its own: its many pins stay out of the app's.
TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
tools_stamp="$TOOLS_VENV/.installed-$(sha256sum requirements-tools.txt | cut -c1-16)"
if [ "$target" != run ] && [ ! -e "$tools_stamp" ]; then
  [ -x "$TOOLS_VENV/bin/python" ] || "$PY" -m venv "$TOOLS_VENV"
  echo "install: pip install -r requirements-tools.txt (into $TOOLS_VENV)"
  "$TOOLS_VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-tools.txt 2>&1 | { grep -v "is ignored: it is neither" || true; }
  [ "${PIPESTATUS[0]}" = 0 ] || exit 1
  touch "$tools_stamp"
fi

if [ "$target" != run ]; then
  # The release rehearsal runs deploy/release.sh and the units as on an instance, so it needs the
  # app's system user (an instance's UserData makes the same one) and the runtime wheels at hand, so
  # its virtualenv installs offline (pip install --no-index --find-links).
  if ! id jewelry >/dev/null 2>&1; then
    echo "install: system user jewelry (release rehearsal)"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin jewelry
  fi
  wheels="$VENV/release-wheels"
  wheel_stamp="$wheels/.downloaded-$(sha256sum requirements.lock | cut -c1-16)"
  if [ ! -e "$wheel_stamp" ]; then
    echo "install: runtime wheels (requirements.lock) for the release rehearsal into $wheels"
    rm -rf "$wheels"
    "$VENV/bin/python" -m pip download -q --disable-pip-version-check --only-binary=:all: --require-hashes -r requirements.lock -d "$wheels" 2>&1 | { grep -v "is ignored: it is neither" || true; }
    [ "${PIPESTATUS[0]}" = 0 ] || exit 1
    touch "$wheel_stamp"
  fi

  # npm packages from lock files: the OIDC test provider for tests; Lighthouse only for the benchmark.
  npm_dirs=(tests/oidc_provider)
  [ "$target" = bench ] && npm_dirs+=(bench)
  for dir in "${npm_dirs[@]}"; do
    if [ -f "$dir/package-lock.json" ] && { [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; }; then
      echo "install: npm ci in $dir"
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) && touch "$dir/node_modules"
    fi
  done
fi
