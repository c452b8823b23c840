#!/bin/sh
# `make run`'s first step (the Makefile's dev-env target): the checkout's own secret key, and no
# debug server beyond this machine.
#
#   scripts/dev-env.sh HOST        # ENV_FILE (default: the checkout's .env) and PYTHON may be set
#
# 1. The first run writes a random DJANGO_SECRET_KEY into .env (gitignored; settings/base.py reads it
#    with django-environ, a variable already in the environment wins). Before, every checkout signed
#    with dev.py's published key, so anyone could forge its guest-order links and sessions.
# 2. With DEBUG on (dev.py's default) it refuses a HOST other than loopback: the debug pages show
#    settings and code to whoever can reach them.
set -eu
cd "$(dirname "$0")/.."
host=${1:-127.0.0.1}
env_file=${ENV_FILE:-.env}
python=${PYTHON:-.venv/bin/python}
command -v "$python" >/dev/null 2>&1 || python=python3

# The value a variable has for Django: the environment first, then the last line of .env naming it.
setting() {
  eval "value=\${$1-}"
  if [ -z "$value" ] && [ -f "$env_file" ]; then
    value=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$1[[:space:]]*=[[:space:]]*//p" "$env_file" | tail -n 1)
    value=$(printf '%s' "$value" | sed "s/^[\"']//; s/[\"']\$//")
  fi
  printf '%s' "$value"
}

if [ -z "$(setting DJANGO_SECRET_KEY)" ]; then
  key=$("$python" -c 'import secrets; print(secrets.token_urlsafe(50))')
  umask 077
  [ ! -s "$env_file" ] || [ -z "$(tail -c 1 "$env_file")" ] || echo >>"$env_file"
  printf '# Written by the first `make run` (scripts/dev-env.sh): this checkout'"'"'s own key. Keep it out of git.\nDJANGO_SECRET_KEY=%s\n' "$key" >>"$env_file"
  echo "make run: wrote a new random DJANGO_SECRET_KEY to $env_file"
fi

debug=$(setting DJANGO_DEBUG | tr '[:upper:]' '[:lower:]')
case "${debug:-true}" in
  true | on | ok | y | yes | 1) debug=on ;;
  *) debug=off ;;
esac
case "$host" in
  127.* | localhost | ::1 | "[::1]") loopback=yes ;;
  *) loopback=no ;;
esac
if [ "$debug" = on ] && [ "$loopback" = no ]; then
  cat >&2 <<MSG
make run: refusing HOST=$host with DEBUG on.
Django's debug pages show the settings and code to anyone who can reach $host. Serve on
127.0.0.1 (the default: make run), or, if others must reach this machine, set DJANGO_DEBUG=false
and DJANGO_ALLOWED_HOSTS in $env_file first. make run is never the shop's production server.
MSG
  exit 2
fi
