-- The service's run-time rights: everything it does while serving, nothing more.
--
-- Migrations run as the database owner (compose: the `migrate` service; Kubernetes: the migration
-- Job); the service runs as a login role that is a member of bazaarche_runtime, e.g.
--   CREATE ROLE bazaarche_app LOGIN PASSWORD '…' IN ROLE bazaarche_runtime;
-- (docs/operations.md, "Database roles"). Not owning anything, that role cannot ALTER, DROP or
-- TRUNCATE a table, so it cannot disable or drop the trigger that keeps audit_events append-only;
-- on audit_events it may only read and append.
--
-- RULE FOR LATER MIGRATIONS. The default privileges at the end give bazaarche_runtime SELECT,
-- INSERT, UPDATE and DELETE on every table a later migration creates (migrations always run as
-- the same role, the owner). A table that must stay append-only like audit_events says so itself,
-- in the migration that creates it:
--   REVOKE UPDATE, DELETE ON that_table FROM bazaarche_runtime;
-- and a table the service must only read: REVOKE INSERT, UPDATE, DELETE ON … FROM bazaarche_runtime.
--
-- Safe as a superuser (the tests) and as the plain owner role (production), and on a database
-- copied from one where it already ran.

-- Roles are cluster-wide: another database on the server, a test database copied from a template,
-- or the deployment itself (deploy/postgres/primary-init.sh, CloudNativePG's managed roles) may
-- have created it already. The owner has no CREATEROLE (in PostgreSQL 15 that right is close to
-- superuser), so when it is missing and cannot be created here the message says what to run.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bazaarche_runtime') THEN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND (rolsuper OR rolcreaterole)) THEN
      RAISE EXCEPTION 'role bazaarche_runtime does not exist'
        USING HINT = 'As a superuser run: CREATE ROLE bazaarche_runtime NOLOGIN; then migrate again (docs/operations.md, "Database roles").';
    END IF;
    BEGIN
      CREATE ROLE bazaarche_runtime NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;  -- a migration of another database on the server made it a moment ago
    END;
  END IF;
END $$;

-- CONNECT explicitly, so it survives a REVOKE CONNECT … FROM PUBLIC. No TEMPORARY: the service
-- makes no temporary tables (the `dataset` command, which does, runs as the owner).
DO $$
BEGIN
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO bazaarche_runtime', current_database());
END $$;

-- Nobody but the owner creates objects in public (PostgreSQL 15's default; a database upgraded
-- from an older release may still allow it to everyone): a function planted there by the
-- service's role could be picked up by a later migration.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO bazaarche_runtime;

-- Every table the earlier migrations made, including those of this release (0010–0012).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO bazaarche_runtime;
-- The audit trail: read and append only. (The trigger refuses the rest to the owner too.)
REVOKE UPDATE, DELETE ON audit_events FROM bazaarche_runtime;
-- /readyz reads which migrations are applied; only `bazaarche migrate`, as the owner, writes it.
-- (The runner creates that table before any migration; the check only helps a manual psql -f.)
DO $$
BEGIN
  IF to_regclass('schema_migrations') IS NOT NULL THEN
    REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM bazaarche_runtime;
  END IF;
END $$;

GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO bazaarche_runtime;
-- Our own functions. An extension's (pg_trgm) belong to the bootstrap superuser, whom the owner
-- cannot grant for; everyone may execute those anyway (PostgreSQL's default for functions).
DO $$
DECLARE
  routine regprocedure;
BEGIN
  FOR routine IN
    SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('GRANT EXECUTE ON ROUTINE %s TO bazaarche_runtime', routine);
  END LOOP;
END $$;

-- Objects that later migrations create (as the role running this one).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO bazaarche_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO bazaarche_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO bazaarche_runtime;
