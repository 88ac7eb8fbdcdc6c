-- API keys: long-lived credentials a partner company's systems (an ERP) use instead of password
-- tokens (docs/integrations.md, "API keys"). Like access tokens, only the SHA-256 of a key is
-- stored; `prefix` (the first characters, which carry no usable secret) lets people tell keys apart.
-- A key acts as the account that created it, limited to its scopes; it stops working when it is
-- revoked, expires, or that account is disabled or released.
CREATE TABLE api_keys (
  id                bigserial PRIMARY KEY,
  partner_id        bigint NOT NULL REFERENCES partners (id),
  created_by        bigint NOT NULL REFERENCES accounts (id),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  key_hash          bytea NOT NULL UNIQUE,
  prefix            text NOT NULL,
  scopes            text[] NOT NULL CHECK (cardinality(scopes) BETWEEN 1 AND 20),
  created_at        timestamptz NOT NULL DEFAULT now(),
  expires_at        timestamptz,
  revoked_at        timestamptz,
  revoked_by        bigint REFERENCES accounts (id),
  -- Written at most once a minute per key (and when the address changes), not on every request.
  last_used_at      timestamptz,
  last_used_address text,
  -- When the last `api_key.used` audit row was written: at most one an hour per key, or on a new address.
  last_audited_at   timestamptz
);
CREATE INDEX api_keys_partner_idx ON api_keys (partner_id, id);
