-- Demands: a partner's sourcing request, the input of matching.
CREATE TABLE demands (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  partner_id            bigint NOT NULL REFERENCES partners(id),
  account_id            bigint NOT NULL REFERENCES accounts(id),
  category_code         text NOT NULL REFERENCES categories(code),
  keywords              text CHECK (length(keywords) <= 500),
  quantity              integer NOT NULL CHECK (quantity > 0),
  unit                  text NOT NULL CHECK (unit IN ('piece', 'kg', 'g', 'liter', 'ml', 'box', 'pack', 'jar', 'bottle', 'meter', 'square_meter', 'set', 'dozen', 'pair')),
  max_unit_price_rials  bigint NOT NULL CHECK (max_unit_price_rials > 0),
  required_certificates text[] NOT NULL DEFAULT '{}'
                        CHECK (required_certificates <@ ARRAY['inso', 'health_license', 'halal', 'iso22000', 'handicraft_seal', 'organic', 'other']),
  min_packaging_level   smallint NOT NULL DEFAULT 0 CHECK (min_packaging_level BETWEEN 0 AND 3),
  preferred_provinces   text[] NOT NULL DEFAULT '{}',
  needed_by             date NOT NULL,
  status                text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'cancelled')),
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX demands_partner_idx ON demands (partner_id, id);
CREATE INDEX demands_open_idx ON demands (category_code, id) WHERE status = 'open';
