-- Partners: the companies that buy from producers (lead firms, upstream buyers, exporters,
-- retailers). Every partner account belongs to one.

-- شناسه ملی of a legal entity: 11 digits; the last checks the first ten, each offset by the tenth
-- digit plus 2 and weighted 29, 27, 23, 19, 17 (twice), modulo 11 (10 counts as 0).
CREATE FUNCTION is_valid_legal_national_id(id text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT id ~ '^[0-9]{11}$' AND (
    SELECT CASE WHEN r = 10 THEN 0 ELSE r END = substr(id, 11, 1)::int
    FROM (SELECT sum((substr(id, i, 1)::int + substr(id, 10, 1)::int + 2) * (ARRAY[29, 27, 23, 19, 17, 29, 27, 23, 19, 17])[i]) % 11 AS r
          FROM generate_series(1, 10) AS i) s)
$$;

CREATE TABLE partners (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  legal_national_id text NOT NULL CONSTRAINT partners_legal_national_id_key UNIQUE
                    CONSTRAINT partners_legal_national_id_check CHECK (is_valid_legal_national_id(legal_national_id)),
  name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind              text NOT NULL CHECK (kind IN ('lead_firm', 'upstream_buyer', 'exporter', 'retailer')),
  province_code     text NOT NULL REFERENCES provinces(code),
  contact_name      text CHECK (length(contact_name) <= 200),
  contact_phone     text CHECK (contact_phone ~ '^0[0-9]{10}$'),
  contact_email     text CHECK (length(contact_email) <= 200 AND contact_email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  created_at        timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE accounts ADD CONSTRAINT accounts_partner_id_fkey FOREIGN KEY (partner_id) REFERENCES partners(id);
-- NOT VALID: partner accounts created before companies existed keep working (for orders) until an
-- admin binds them; every account created or changed from now on must follow the rule.
ALTER TABLE accounts ADD CONSTRAINT accounts_partner_id_check CHECK ((role = 'partner') = (partner_id IS NOT NULL)) NOT VALID;
CREATE INDEX accounts_partner_idx ON accounts (partner_id) WHERE partner_id IS NOT NULL;
