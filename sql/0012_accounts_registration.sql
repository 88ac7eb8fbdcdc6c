-- Accounts that can be cut off, registration that cannot be squatted, and anonymous rate limits.

-- An applicant may withdraw; a rejected or withdrawn application frees its national ID and mobile
-- (the unique constraints become partial indexes under the same names, so a clash still names the
-- field).
ALTER TABLE producers DROP CONSTRAINT producers_status_check;
ALTER TABLE producers ADD CONSTRAINT producers_status_check
  CHECK (status IN ('applied', 'screened', 'verified', 'rejected', 'suspended', 'withdrawn'));
ALTER TABLE producers ADD COLUMN withdrawn_at timestamptz;
-- When the applicant proved the mobile with a one-time code; NULL for records made before codes.
ALTER TABLE producers ADD COLUMN mobile_verified_at timestamptz;

ALTER TABLE producers DROP CONSTRAINT producers_national_id_key;
CREATE UNIQUE INDEX producers_national_id_key ON producers (national_id) WHERE status NOT IN ('rejected', 'withdrawn');
ALTER TABLE producers DROP CONSTRAINT producers_mobile_key;
CREATE UNIQUE INDEX producers_mobile_key ON producers (mobile) WHERE status NOT IN ('rejected', 'withdrawn');
CREATE INDEX producers_national_id_idx ON producers (national_id);

CREATE OR REPLACE FUNCTION producers_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
      ('applied', 'screened'), ('applied', 'rejected'), ('screened', 'rejected'),
      ('screened', 'verified'), ('verified', 'suspended'), ('suspended', 'verified'),
      ('applied', 'withdrawn'), ('screened', 'withdrawn')) THEN
    RAISE EXCEPTION 'producer status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'producers_status_check';
  END IF;
  RETURN NEW;
END $$;

-- A login given up: the account of a rejected or withdrawn applicant whose mobile applied again.
-- It keeps its history but can no longer sign in, and its login may be taken by the new account.
ALTER TABLE accounts ADD COLUMN released_at timestamptz;
DROP INDEX accounts_login_key;
CREATE UNIQUE INDEX accounts_login_key ON accounts (lower(login)) WHERE released_at IS NULL;
CREATE INDEX accounts_login_idx ON accounts (lower(login));
ALTER TABLE accounts ADD COLUMN disabled_at timestamptz;
ALTER TABLE accounts ADD COLUMN password_changed_at timestamptz;
UPDATE accounts SET disabled_at = created_at WHERE disabled;

-- Applications waiting for their mobile to be proven with a one-time code. Nothing of the
-- application is a producer yet; unconfirmed rows expire and are deleted.
CREATE TABLE application_requests (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  national_id   text NOT NULL,
  first_name    text NOT NULL,
  last_name     text NOT NULL,
  mobile        text NOT NULL,
  province_code text NOT NULL REFERENCES provinces(code),
  city          text NOT NULL,
  skills        text[] NOT NULL DEFAULT '{}',
  code_hash     bytea NOT NULL,             -- sha256(id || code): the code itself is never stored
  attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  client_address text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  confirmed_at  timestamptz
);
CREATE INDEX application_requests_mobile_idx ON application_requests (mobile, created_at);
CREATE INDEX application_requests_expires_idx ON application_requests (expires_at);

-- Applications whose mobile was proven but whose national ID was already enrolled: the caller is
-- told nothing more than any applicant; the province's staff follow these up.
CREATE TABLE duplicate_applications (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  national_id   text NOT NULL,
  mobile        text NOT NULL,
  province_code text NOT NULL REFERENCES provinces(code),
  existing_producer_id bigint REFERENCES producers(id),
  client_address text,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX duplicate_applications_province_idx ON duplicate_applications (province_code, id);

-- Every SMS the service sends. With the development sink (no gateway configured) this table and
-- the log are the delivery; with a gateway, bodies that carry a one-time code are stored redacted.
CREATE TABLE sms_messages (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  mobile      text NOT NULL CHECK (mobile ~ '^09[0-9]{9}$'),
  purpose     text NOT NULL CHECK (purpose IN ('application_code', 'application_notice', 'account_notice')),
  body        text NOT NULL,
  status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  gateway_id  text,
  last_error  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  sent_at     timestamptz
);
CREATE INDEX sms_messages_mobile_idx ON sms_messages (mobile, id);

-- Anonymous request budgets per client address and operation, in fixed windows, shared by every
-- instance. UNLOGGED: counters are worth losing in a crash, not worth WAL on every request.
CREATE UNLOGGED TABLE rate_limit_windows (
  key          text PRIMARY KEY CHECK (length(key) <= 300),
  window_start timestamptz NOT NULL,
  count        integer NOT NULL CHECK (count >= 0)
);

-- Sign-in throttling moves from per-login and per-address counts to per (login, address) pairs
-- with a growing delay, plus the per-address count: failing on purpose from elsewhere can no
-- longer lock a victim out. Old login-only rows are dropped.
DELETE FROM login_throttle WHERE key LIKE 'login:%';
ALTER TABLE login_throttle ADD COLUMN last_failure timestamptz;

-- The wait after a (login, address) pair's n-th charged sign-in attempt: three are free, then
-- 1 s, 2 s, 4 s … doubling up to 15 minutes.
CREATE FUNCTION login_delay(failures integer) RETURNS integer LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN failures <= 3 THEN 0 ELSE least(900, power(2, least(failures - 4, 20))::integer) END
$$;
