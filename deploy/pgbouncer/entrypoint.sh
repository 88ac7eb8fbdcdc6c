#!/bin/bash
# Writes PgBouncer's auth file from the environment (so no password is committed or baked into
# the image), then runs PgBouncer in the foreground.
set -Eeuo pipefail
: "${BAZAARCHE_APP_DB_PASSWORD:?}"
AUTH_FILE=${PGBOUNCER_AUTH_FILE:-/var/lib/pgbouncer/userlist.txt}
umask 077
# A clear-text entry lets PgBouncer answer the client's SCRAM exchange and also log in to
# PostgreSQL with SCRAM on the client's behalf. Double quotes inside are doubled, per the format.
# Only the runtime role: the instances are the only clients (migrations go to the primary directly).
printf '"bazaarche_app" "%s"\n' "${BAZAARCHE_APP_DB_PASSWORD//\"/\"\"}" > "$AUTH_FILE"
exec pgbouncer "${PGBOUNCER_INI:-/etc/pgbouncer/pgbouncer.ini}"
