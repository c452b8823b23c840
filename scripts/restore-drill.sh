#!/usr/bin/env bash
# Backup/restore drill: proves a pg_dump of the shop's database restores into a working database.
#
#   scripts/restore-drill.sh [SOURCE_DB]        # default: $PGDATABASE
#
#   1. a REPEATABLE READ transaction on SOURCE_DB exports its snapshot and counts every table's rows in it
#   2. pg_dump -Fc --snapshot=<that snapshot> SOURCE_DB: the dump holds exactly what was counted, however
#      busy the live shop is meanwhile (the counts are never compared with a database that moved on)
#   3. createdb a second database and pg_restore the dump into it
#   4. manage.py migrate --check against the restored database (schema is complete and current)
#   5. row counts of every table, snapshot vs restored, must match
# Prints the figures (tables, rows, bytes, seconds) and ends with one machine-readable line:
#   restore-drill: OK tables=N rows=N dump_bytes=N dump_s=S restore_s=S check_s=S total_s=S
#
# Connection: the usual libpq variables PGHOST, PGPORT, PGUSER, PGPASSWORD (or ~/.pgpass);
# the user needs CREATEDB (the Lightsail master user has it). Optional:
#   PGBIN           folder of pg_dump/pg_restore/psql/createdb (default: PATH, else Postgres 15's)
#   PYTHON          the venv's python (default .venv/bin/python)
#   DRILL_SETTINGS  settings module for migrate --check (default jewelry_site.settings.dev)
#   KEEP_RESTORED=1 keep the restored database for inspection (default: dropped)
#   DUMP_FILE       keep the dump at this path (default: a temp file, removed)
# Exit status: 0 when everything matched, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

source_db=${1:-${PGDATABASE:?give SOURCE_DB or set PGDATABASE}}
if [ -z "${PGBIN:-}" ]; then
  if command -v pg_dump >/dev/null; then PGBIN=$(dirname "$(command -v pg_dump)"); else PGBIN=/usr/lib/postgresql/15/bin; fi
fi
PYTHON=${PYTHON:-.venv/bin/python}
DRILL_SETTINGS=${DRILL_SETTINGS:-jewelry_site.settings.dev}
psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -At)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
say() { echo "restore-drill: $*"; }

target_db="${source_db}_restore_$(date -u +%Y%m%d%H%M%S)_$$"
workdir=$(mktemp -d /tmp/restore-drill.XXXXXX)
dump=${DUMP_FILE:-$workdir/$source_db.dump}
cleanup() {
  if [ "${KEEP_RESTORED:-0}" != 1 ]; then
    "$PGBIN/dropdb" --if-exists "$target_db" 2>/dev/null || true
  else
    say "kept the restored database $target_db"
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# "schema.table<TAB>rows" for every table, sorted, in ONE statement (so in one snapshot): query_to_xml
# runs each table's count(*) inside the statement's transaction.
COUNTS_SQL="SELECT format('%I.%I', table_schema, table_name),
    (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name),
      false, true, '')))[1]::text::bigint
  FROM information_schema.tables WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
END_MARK="-- restore-drill end --"

started=$(now)
# The snapshot holder: a psql session kept open (coproc) until pg_dump has taken the snapshot over.
coproc SNAPSHOT { "${psql[@]}" -F $'\t' -d "$source_db"; }
holder_in=${SNAPSHOT[1]}
holder_out=${SNAPSHOT[0]}
holder_pid=$SNAPSHOT_PID
echo "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SELECT pg_export_snapshot();" >&"$holder_in"
read -t 60 -r snapshot <&"$holder_out" || { say "FAILED: no snapshot from $source_db"; exit 1; }
echo "$COUNTS_SQL; SELECT '$END_MARK';" >&"$holder_in"
: >"$workdir/source.tsv"
while IFS= read -t 600 -r line <&"$holder_out"; do
  [ "$line" = "$END_MARK" ] && break
  echo "$line" >>"$workdir/source.tsv"
done
[ "$line" = "$END_MARK" ] || { say "FAILED: counting rows in the snapshot did not finish"; exit 1; }
say "snapshot $snapshot: counted $(wc -l <"$workdir/source.tsv" | tr -d ' ') tables"

"$PGBIN/pg_dump" -Fc --snapshot="$snapshot" -d "$source_db" -f "$dump"
echo "COMMIT;" >&"$holder_in"
exec {holder_in}>&-
wait "$holder_pid" 2>/dev/null || true
dumped=$(now)
dump_bytes=$(wc -c <"$dump" | tr -d ' ')
say "dumped $source_db at that snapshot: $dump_bytes bytes in $(secs "$started" "$dumped") s"

"$PGBIN/createdb" "$target_db"
# --no-owner/--no-privileges: the restore may run as another user than the one that owned the tables.
"$PGBIN/pg_restore" --exit-on-error --no-owner --no-privileges -d "$target_db" "$dump"
restored=$(now)
say "restored into $target_db in $(secs "$dumped" "$restored") s"

db_url="postgres://${PGUSER:-$(id -un)}@${PGHOST:-127.0.0.1}:${PGPORT:-5432}/$target_db"
if ! DJANGO_DATABASE_URL=$db_url DJANGO_SETTINGS_MODULE=$DRILL_SETTINGS "$PYTHON" manage.py migrate --check >/dev/null; then
  say "FAILED: the restored database has unapplied migrations"
  exit 1
fi
say "migrate --check: no unapplied migrations"

"${psql[@]}" -F $'\t' -d "$target_db" -c "$COUNTS_SQL" >"$workdir/restored.tsv"
checked=$(now)
tables=$(wc -l <"$workdir/source.tsv" | tr -d ' ')
rows=$(awk -F '\t' '{ n += $2 } END { print n + 0 }' "$workdir/source.tsv")
if ! diff -u "$workdir/source.tsv" "$workdir/restored.tsv" >"$workdir/diff.txt"; then
  say "FAILED: row counts differ (snapshot vs restored):"
  cat "$workdir/diff.txt"
  exit 1
fi
awk -F '\t' '$2 > 0 { printf "  %-40s %8d\n", $1, $2 }' "$workdir/source.tsv"
say "row counts match the dump's snapshot: $rows rows in $tables tables"
say "OK tables=$tables rows=$rows dump_bytes=$dump_bytes dump_s=$(secs "$started" "$dumped")" \
  "restore_s=$(secs "$dumped" "$restored") check_s=$(secs "$restored" "$checked") total_s=$(secs "$started" "$checked")"
