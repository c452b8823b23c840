#!/usr/bin/env bash
# Runs a command against a throwaway Postgres 15 cluster on 127.0.0.1 and always stops it.
#
#   scripts/with-postgres.sh CMD [ARGS...]
#
# The cluster lives in a fresh temp directory on a free port, so several runs can go side by
# side. DJANGO_DATABASE_URL (and PGHOST/PGPORT/PGUSER) point at it while CMD runs. initdb
# refuses root, so as root the server programs run as the `postgres` user via runuser.
# Exits with CMD's status.
set -euo pipefail

pg_bin() {
  local initdb
  initdb=$(dpkg -L postgresql-15 2>/dev/null | grep '/bin/initdb$' | head -n1 || true)
  [ -n "$initdb" ] || initdb=/usr/lib/postgresql/15/bin/initdb
  dirname "$initdb"
}
PGBIN=${PGBIN:-$(pg_bin)}
[ -x "$PGBIN/initdb" ] || { echo "with-postgres: no initdb in $PGBIN (install postgresql-15)" >&2; exit 2; }

as_db_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

workdir=$(mktemp -d /tmp/jewelry-pg.XXXXXX)
chmod 755 "$workdir"
[ "$(id -u)" = 0 ] && chown postgres "$workdir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop_cluster() {
  as_db_owner "$PGBIN/pg_ctl" -D "$workdir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap stop_cluster EXIT

as_db_owner "$PGBIN/initdb" -D "$workdir/data" -U jewelry --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Durability is pointless for a throwaway cluster; turning it off makes the suite much faster.
as_db_owner "$PGBIN/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -o \
  "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U jewelry jewelry

export PGHOST=127.0.0.1 PGPORT=$port PGUSER=jewelry PGDATABASE=jewelry PGBIN
export DJANGO_DATABASE_URL="postgres://jewelry@127.0.0.1:$port/jewelry"
echo "with-postgres: Postgres 15 on 127.0.0.1:$port (data in $workdir)" >&2

set +e
"$@"
status=$?
set -e
exit $status
