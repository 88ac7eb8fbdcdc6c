#!/bin/bash
# Writes PgBouncer's auth file from the environment (so no password is committed or baked into
# the image), then runs PgBouncer in the foreground.
set -Eeuo pipefail
: "${BAZAARCHE_DB_PASSWORD:?}"
AUTH_FILE=${PGBOUNCER_AUTH_FILE:-/var/lib/pgbouncer/userlist.txt}
umask 077
# A clear-text entry lets PgBouncer answer the client's SCRAM exchange and also log in to
# PostgreSQL with SCRAM on the client's behalf. Double quotes inside are doubled, per the format.
printf '"bazaarche" "%s"\n' "${BAZAARCHE_DB_PASSWORD//\"/\"\"}" > "$AUTH_FILE"
exec pgbouncer "${PGBOUNCER_INI:-/etc/pgbouncer/pgbouncer.ini}"
