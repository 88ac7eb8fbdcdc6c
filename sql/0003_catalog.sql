-- Catalog: brands, products, packaging, quality certificates, and Persian-aware search.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Search normalisation, the SQL twin of Catalog.PersianText.normalize (tested against each other):
-- Arabic letter forms to Persian, diacritics and tatweel removed, ZWNJ/ZWJ joined, Persian and
-- Arabic-Indic digits to ASCII, lower case, whitespace collapsed.
CREATE FUNCTION fa_normalize(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT btrim(regexp_replace(lower(
    regexp_replace(
      translate(t, 'يىكۀةأإآٱؤئ۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩', 'ییکههااااوی01234567890123456789'),
      '[\u064B-\u065F\u0670\u0640\u200C\u200D]', '', 'g')), '\s+', ' ', 'g'))
$$;

-- The same text without any spaces, so «کتاب ها», «کتاب‌ها» and «کتابها» meet.
CREATE FUNCTION fa_compact(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT replace(fa_normalize(t), ' ', '')
$$;

CREATE FUNCTION is_valid_gtin13(g text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT g ~ '^[0-9]{13}$' AND (
    SELECT (10 - sum(substr(g, i, 1)::int * CASE WHEN i % 2 = 0 THEN 3 ELSE 1 END) % 10) % 10
    FROM generate_series(1, 12) AS i) = substr(g, 13, 1)::int
$$;

CREATE TABLE brands (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug             text NOT NULL CONSTRAINT brands_slug_key UNIQUE
                   CONSTRAINT brands_slug_check CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 60),
  name_fa          text NOT NULL CHECK (length(name_fa) BETWEEN 1 AND 120),
  name_en          text CHECK (length(name_en) <= 120),
  story            text CHECK (length(story) <= 4000),
  logo_url         text CHECK (logo_url ~* '^https?://' AND length(logo_url) <= 500),
  trademark_number text CHECK (length(trademark_number) <= 40),
  version          integer NOT NULL DEFAULT 1,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A cooperative may share one brand; a brand has at least one owner (enforced by the API).
CREATE TABLE brand_owners (
  brand_id    bigint NOT NULL REFERENCES brands(id) ON DELETE CASCADE,
  producer_id bigint NOT NULL REFERENCES producers(id),
  PRIMARY KEY (brand_id, producer_id)
);
CREATE INDEX brand_owners_producer_idx ON brand_owners (producer_id);

CREATE TABLE products (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  producer_id      bigint NOT NULL REFERENCES producers(id),
  province_code    text NOT NULL REFERENCES provinces(code),   -- the producer's, copied for search
  brand_id         bigint REFERENCES brands(id),
  title_fa         text NOT NULL CHECK (length(btrim(title_fa)) BETWEEN 1 AND 200),
  title_en         text CHECK (length(title_en) <= 200),
  description      text CHECK (length(description) <= 5000),
  category_code    text NOT NULL REFERENCES categories(code),
  unit             text NOT NULL CHECK (unit IN ('piece', 'kg', 'g', 'liter', 'ml', 'box', 'pack', 'jar', 'bottle', 'meter', 'square_meter', 'set', 'dozen', 'pair')),
  price_rials      bigint NOT NULL CHECK (price_rials > 0 AND price_rials <= 1000000000000),
  stock            integer NOT NULL CHECK (stock >= 0),
  monthly_capacity integer NOT NULL DEFAULT 0 CHECK (monthly_capacity >= 0),
  min_order_qty    integer NOT NULL DEFAULT 1 CHECK (min_order_qty >= 1),
  hs_code          text CHECK (hs_code ~ '^[0-9]{6,10}$'),
  status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'listed', 'paused', 'archived')),
  packaging_level  smallint NOT NULL DEFAULT 0 CHECK (packaging_level BETWEEN 0 AND 3),
  -- listed and its producer verified: what partners and the public may see. Kept by triggers.
  searchable       boolean NOT NULL DEFAULT false,
  search_text      text NOT NULL DEFAULT '',   -- fa_normalize(titles, brand names): short, for typo matching
  search_compact   text NOT NULL DEFAULT '',   -- titles, brand names and description, normalised, without spaces
  title_norm       text NOT NULL DEFAULT '',   -- fa_normalize(title_fa): exact and prefix tiers
  version          integer NOT NULL DEFAULT 1,
  listed_at        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_producer_idx ON products (producer_id, id);
CREATE INDEX products_search_newest_idx ON products (id DESC) WHERE searchable;
CREATE INDEX products_search_category_idx ON products (category_code, id DESC) WHERE searchable;
CREATE INDEX products_search_price_idx ON products (price_rials, id) WHERE searchable;
CREATE INDEX products_search_province_idx ON products (province_code, id DESC) WHERE searchable;
CREATE INDEX products_search_brand_idx ON products (brand_id, id DESC) WHERE searchable;
CREATE INDEX products_search_trgm_idx ON products USING gin (search_text gin_trgm_ops) WHERE searchable;
CREATE INDEX products_search_compact_trgm_idx ON products USING gin (search_compact gin_trgm_ops) WHERE searchable;
CREATE INDEX products_search_title_idx ON products (title_norm text_pattern_ops) WHERE searchable;

-- Search text and visibility are derived in the database so no write path can forget them.
CREATE FUNCTION products_derive() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  brand_names text;
BEGIN
  SELECT coalesce(b.name_fa, '') || ' ' || coalesce(b.name_en, '') INTO brand_names FROM brands b WHERE b.id = NEW.brand_id;
  NEW.search_text := fa_normalize(concat_ws(' ', NEW.title_fa, NEW.title_en, brand_names));
  NEW.search_compact := replace(fa_normalize(concat_ws(' ', NEW.search_text, NEW.description)), ' ', '');
  NEW.title_norm := fa_normalize(NEW.title_fa);
  NEW.searchable := NEW.status = 'listed'
    AND EXISTS (SELECT 1 FROM producers p WHERE p.id = NEW.producer_id AND p.status = 'verified');
  RETURN NEW;
END $$;
CREATE TRIGGER products_derive BEFORE INSERT OR UPDATE ON products
  FOR EACH ROW EXECUTE FUNCTION products_derive();

-- A suspended (or re-verified) producer's listings leave (or rejoin) search at once.
CREATE FUNCTION producers_refresh_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE products SET searchable = searchable WHERE producer_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER producers_refresh_products AFTER UPDATE OF status ON producers
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION producers_refresh_products();

-- A renamed brand is found under its new name.
CREATE FUNCTION brands_refresh_products() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE products SET brand_id = brand_id WHERE brand_id = NEW.id;
  RETURN NULL;
END $$;
CREATE TRIGGER brands_refresh_products AFTER UPDATE OF name_fa, name_en ON brands
  FOR EACH ROW EXECUTE FUNCTION brands_refresh_products();

CREATE TABLE product_packaging (
  product_id         bigint PRIMARY KEY REFERENCES products(id),
  level              text NOT NULL CHECK (level IN ('none', 'basic', 'retail', 'export')),
  materials          text[] NOT NULL DEFAULT '{}' CHECK (cardinality(materials) <= 20),
  net_weight_g       integer CHECK (net_weight_g > 0),
  length_mm          integer CHECK (length_mm > 0),
  width_mm           integer CHECK (width_mm > 0),
  height_mm          integer CHECK (height_mm > 0),
  label_languages    text[] NOT NULL DEFAULT '{}' CHECK (cardinality(label_languages) <= 20),
  gtin               text CONSTRAINT product_packaging_gtin_check CHECK (is_valid_gtin13(gtin)),
  improvement_status text NOT NULL DEFAULT 'not_started' CHECK (improvement_status IN ('not_started', 'in_progress', 'approved')),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE certificates (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  product_id   bigint NOT NULL REFERENCES products(id),
  kind         text NOT NULL CHECK (kind IN ('inso', 'health_license', 'halal', 'iso22000', 'handicraft_seal', 'organic', 'other')),
  number       text NOT NULL CHECK (length(number) BETWEEN 1 AND 80),
  issuer       text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 200),
  issued_on    date NOT NULL,
  expires_on   date NOT NULL,
  document_url text CHECK (document_url ~* '^https?://' AND length(document_url) <= 500),
  status       text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'under_review', 'granted', 'rejected', 'revoked')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT certificates_expires_on_check CHECK (expires_on > issued_on)
);
CREATE INDEX certificates_product_idx ON certificates (product_id, id);
CREATE INDEX certificates_valid_idx ON certificates (kind, product_id, expires_on) WHERE status = 'granted';

-- "Today" for certificate validity is the date in Tehran, evaluated at read time: no job needed.
CREATE FUNCTION tehran_today() RETURNS date LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT (now() AT TIME ZONE 'Asia/Tehran')::date
$$;
