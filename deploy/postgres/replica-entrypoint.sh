#!/bin/bash
# Streaming standby: on first start, clone the primary with pg_basebackup -R (which writes
# standby.signal and primary_conninfo), then run PostgreSQL as a hot standby.
set -Eeuo pipefail
: "${PGDATA:?}" "${PGPASSWORD:?REPLICATION_PASSWORD must be set}"
PRIMARY_HOST=${PRIMARY_HOST:-primary}
PRIMARY_PORT=${PRIMARY_PORT:-5432}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -q -h "$PRIMARY_HOST" -p "$PRIMARY_PORT"; do sleep 1; done
    # -S uses the slot made by the primary's init script; -X stream copies the WAL written during
    # the backup, so the clone is consistent on its own.
    pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U replicator -D "$PGDATA" -R -X stream -S replica1 --checkpoint=fast
    chmod 700 "$PGDATA"
fi

# Hot-standby limits must be at least the primary's, so the same values are passed to both.
# hot_standby_feedback stops the primary's vacuum from cancelling long export-figure queries here.
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_connections=100 \
    -c max_wal_senders=10 -c max_replication_slots=10 "$@"
