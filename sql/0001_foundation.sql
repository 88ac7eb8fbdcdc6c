-- Foundation: reference tables, accounts and tokens, producer onboarding, training, quotas, audit trail.
-- Constraint names keep PostgreSQL's defaults (<table>_<column>_key|fkey|check) where possible:
-- the API maps a violated constraint back to the request field by that name.

CREATE TABLE provinces (
  code    text PRIMARY KEY CHECK (code ~ '^IR-[0-9]{2}$'),
  name_fa text NOT NULL,
  name_en text NOT NULL
);

CREATE TABLE countries (
  alpha2       char(2) PRIMARY KEY CHECK (alpha2 ~ '^[A-Z]{2}$'),
  alpha3       char(3) NOT NULL UNIQUE CHECK (alpha3 ~ '^[A-Z]{3}$'),
  numeric_code char(3) NOT NULL UNIQUE CHECK (numeric_code ~ '^[0-9]{3}$'),
  name_en      text NOT NULL,
  name_fa      text
);

CREATE TABLE hs_chapters (
  chapter  smallint PRIMARY KEY CHECK (chapter BETWEEN 1 AND 97),
  title_en text NOT NULL,
  reserved boolean NOT NULL DEFAULT false
);

CREATE TABLE categories (
  code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
  parent_code text REFERENCES categories(code),
  name_fa     text NOT NULL,
  name_en     text NOT NULL,
  sort_order  integer NOT NULL DEFAULT 0,
  CHECK ((parent_code IS NULL AND position('.' in code) = 0) OR (code LIKE parent_code || '.%'))
);

-- کد ملی: 10 digits, the last a check digit over the first nine (weights 10..2, mod 11).
-- Ten equal digits pass the arithmetic but are never issued.
CREATE FUNCTION is_valid_national_id(id text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT id ~ '^[0-9]{10}$' AND id !~ '^(.)\1{9}$' AND (
    SELECT CASE WHEN r < 2 THEN substr(id, 10, 1)::int = r ELSE substr(id, 10, 1)::int = 11 - r END
    FROM (SELECT sum(substr(id, i, 1)::int * (11 - i)) % 11 AS r FROM generate_series(1, 9) AS i) s)
$$;

CREATE TABLE producers (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  national_id   text NOT NULL CONSTRAINT producers_national_id_key UNIQUE
                CONSTRAINT producers_national_id_check CHECK (is_valid_national_id(national_id)),
  first_name    text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
  last_name     text NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
  mobile        text NOT NULL CONSTRAINT producers_mobile_key UNIQUE
                CONSTRAINT producers_mobile_check CHECK (mobile ~ '^09[0-9]{9}$'),
  province_code text NOT NULL REFERENCES provinces(code),
  city          text NOT NULL CHECK (length(city) BETWEEN 1 AND 100),
  skills        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(skills) <= 20),
  status        text NOT NULL DEFAULT 'applied'
                CHECK (status IN ('applied', 'screened', 'verified', 'rejected', 'suspended')),
  applied_at    timestamptz NOT NULL DEFAULT now(),
  screened_at   timestamptz,
  verified_at   timestamptz,
  rejected_at   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX producers_province_status_idx ON producers (province_code, status, id);
CREATE INDEX producers_applied_at_idx ON producers (applied_at);

-- The lifecycle lives in Swift (ProducerStatus) for messages; the database refuses any other move
-- so no code path can bypass it.
CREATE FUNCTION producers_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
      ('applied', 'screened'), ('applied', 'rejected'), ('screened', 'rejected'),
      ('screened', 'verified'), ('verified', 'suspended'), ('suspended', 'verified')) THEN
    RAISE EXCEPTION 'producer status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'producers_status_check';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER producers_transition BEFORE UPDATE OF status ON producers
  FOR EACH ROW EXECUTE FUNCTION producers_check_transition();

CREATE TABLE accounts (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  login         text NOT NULL CHECK (length(login) BETWEEN 3 AND 64),
  password_hash text NOT NULL,
  role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'producer', 'partner', 'export_officer')),
  province_code text REFERENCES provinces(code),
  producer_id   bigint CONSTRAINT accounts_producer_id_key UNIQUE REFERENCES producers(id),
  partner_id    bigint,
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  CHECK ((role = 'supervisor') = (province_code IS NOT NULL)),
  CHECK ((role = 'producer') = (producer_id IS NOT NULL))
);
CREATE UNIQUE INDEX accounts_login_key ON accounts (lower(login));

CREATE TABLE access_tokens (
  token_hash bytea PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX access_tokens_account_idx ON access_tokens (account_id);

-- Quotas per Solar Hijri plan year and province.
CREATE TABLE plan_quotas (
  year          smallint NOT NULL CHECK (year BETWEEN 1390 AND 1500),
  province_code text NOT NULL REFERENCES provinces(code),
  quota         integer NOT NULL CHECK (quota >= 0),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (year, province_code)
);

CREATE TABLE courses (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  description   text CHECK (length(description) <= 4000),
  kind          text NOT NULL CHECK (kind IN ('general', 'specialized')),
  mode          text NOT NULL CHECK (mode IN ('online', 'in_person')),
  hours         integer NOT NULL CHECK (hours BETWEEN 1 AND 2000),
  province_code text REFERENCES provinces(code),   -- NULL: open to every province
  created_by    bigint NOT NULL REFERENCES accounts(id),
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrollments (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  course_id    bigint NOT NULL REFERENCES courses(id),
  producer_id  bigint NOT NULL REFERENCES producers(id),
  enrolled_at  timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  CONSTRAINT enrollments_producer_id_key UNIQUE (course_id, producer_id)
);
CREATE INDEX enrollments_producer_idx ON enrollments (producer_id) WHERE completed_at IS NOT NULL;

CREATE TABLE counseling_sessions (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  producer_id bigint NOT NULL REFERENCES producers(id),
  topic       text NOT NULL CHECK (topic IN ('quality', 'packaging', 'branding', 'export', 'marketing', 'finance')),
  counselor   text NOT NULL CHECK (length(counselor) BETWEEN 1 AND 200),
  held_on     date NOT NULL,
  mode        text NOT NULL DEFAULT 'in_person' CHECK (mode IN ('online', 'in_person')),
  notes       text CHECK (length(notes) <= 4000),
  created_by  bigint NOT NULL REFERENCES accounts(id),
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX counseling_sessions_producer_idx ON counseling_sessions (producer_id, id);

-- Append-only: the trigger refuses UPDATE, DELETE and TRUNCATE for every role, the owner included.
CREATE TABLE audit_events (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at      timestamptz NOT NULL DEFAULT now(),
  actor_account_id bigint REFERENCES accounts(id),
  actor_role       text NOT NULL,
  entity_type      text NOT NULL,
  entity_id        bigint NOT NULL,
  province_code    text REFERENCES provinces(code),
  action           text NOT NULL,
  from_status      text,
  to_status        text,
  reason           text
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_province_idx ON audit_events (province_code, id);

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
