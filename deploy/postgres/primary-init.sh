#!/bin/bash
# Runs once, when the primary's data volume is first initialised (docker-entrypoint-initdb.d),
# as the postgres superuser over the local socket. Passwords come from the environment so none
# is committed.
set -Eeo pipefail
: "${BAZAARCHE_DB_PASSWORD:?}" "${BAZAARCHE_APP_DB_PASSWORD:?}" "${REPLICATION_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
     -v owner_password="$BAZAARCHE_DB_PASSWORD" -v app_password="$BAZAARCHE_APP_DB_PASSWORD" \
     -v repl_password="$REPLICATION_PASSWORD" <<'SQL'
-- The schema owner: owns the database, so migrations (including CREATE EXTENSION pg_trgm, a
-- trusted extension) run without superuser rights. Only `bazaarche migrate` logs in as it.
CREATE ROLE bazaarche LOGIN PASSWORD :'owner_password';
CREATE DATABASE bazaarche OWNER bazaarche;

-- The instances log in as bazaarche_app. Its rights come from bazaarche_runtime, which
-- sql/0013_runtime_role.sql grants (rows only: no ALTER, DROP or TRUNCATE, the audit trail
-- append-only). Created here because the owner may not create roles.
CREATE ROLE bazaarche_runtime NOLOGIN;
CREATE ROLE bazaarche_app LOGIN PASSWORD :'app_password' IN ROLE bazaarche_runtime;

-- The service sends these as startup parameters, but PgBouncer 1.18 cannot forward them (it drops
-- them through ignore_startup_parameters); as role defaults they also survive its DISCARD ALL.
ALTER ROLE bazaarche_app SET jit = off;
ALTER ROLE bazaarche_app SET enable_parallel_append = off;
ALTER ROLE bazaarche_app SET pg_trgm.word_similarity_threshold = 0.5;

CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'repl_password';
-- A slot makes the primary keep WAL until the standby has it (bounded by max_slot_wal_keep_size),
-- so a standby that was down for a while catches up instead of needing a new base backup.
SELECT pg_create_physical_replication_slot('replica1');
SQL

# "all" in pg_hba.conf does not cover replication connections: they need their own line.
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
