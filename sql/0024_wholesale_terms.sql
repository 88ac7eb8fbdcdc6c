-- Issue 16: wholesale terms on products. Volume price tiers (quantity breaks, each cheaper than the
-- one before), an order increment (pack multiple), lead time and an informational suggested retail
-- price. Existing products get no tiers and an increment of 1, so every order they took stays valid.

-- The unit price for a quantity: the tier with the highest min_quantity not above the quantity,
-- else the base price. The Swift twin is PriceTiers.unitPrice (Sources/Catalog/Domain.swift); a
-- test compares the two. Matching prices every candidate with it, so the common case (no tiers) is
-- an inlinable expression; measured on 200,000 rows, mostly without tiers: 0.7 µs a row, against
-- 4.7 µs for a single SQL function with a subquery over jsonb_array_elements.
CREATE FUNCTION tier_unit_price_of(base bigint, tiers jsonb, quantity integer) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t jsonb;
  q integer;
  best integer;
  price bigint := base;
BEGIN
  IF tiers IS NULL OR jsonb_typeof(tiers) <> 'array' THEN
    RETURN base;
  END IF;
  FOR t IN SELECT value FROM jsonb_array_elements(tiers) LOOP
    q := (t ->> 'min_quantity')::integer;
    IF q <= quantity AND (best IS NULL OR q > best) THEN
      best := q;
      price := (t ->> 'unit_price_rials')::bigint;
    END IF;
  END LOOP;
  RETURN price;
END
$$;

CREATE FUNCTION tier_unit_price(base bigint, tiers jsonb, quantity integer) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN tiers = '[]'::jsonb THEN base ELSE tier_unit_price_of(base, tiers, quantity) END
$$;

-- Whether tiers are well formed for a product's price, increment and minimum order: at most 10
-- tiers of {min_quantity, unit_price_rials} (whole numbers), quantities ascending, above the minimum
-- order and multiples of the increment, prices falling and below the base price. The API checks the
-- same rules first and answers with field errors; this keeps any other writer honest.
CREATE FUNCTION price_tiers_valid(tiers jsonb, base bigint, increment integer, min_order integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  t jsonb;
  q bigint;
  p bigint;
  last_q bigint := min_order;
  last_p bigint := base;
BEGIN
  IF jsonb_typeof(tiers) <> 'array' OR jsonb_array_length(tiers) > 10 THEN
    RETURN false;
  END IF;
  FOR t IN SELECT value FROM jsonb_array_elements(tiers) LOOP
    IF jsonb_typeof(t) <> 'object' OR jsonb_typeof(t -> 'min_quantity') <> 'number'
       OR jsonb_typeof(t -> 'unit_price_rials') <> 'number'
       OR (SELECT count(*) FROM jsonb_object_keys(t)) <> 2 THEN
      RETURN false;
    END IF;
    IF (t ->> 'min_quantity') !~ '^[0-9]+$' OR (t ->> 'unit_price_rials') !~ '^[0-9]+$'
       OR length(t ->> 'min_quantity') > 10 OR length(t ->> 'unit_price_rials') > 13 THEN
      RETURN false;
    END IF;
    q := (t ->> 'min_quantity')::bigint;
    p := (t ->> 'unit_price_rials')::bigint;
    IF q <= last_q OR q > 1000000000 OR q % increment <> 0 OR p <= 0 OR p >= last_p THEN
      RETURN false;
    END IF;
    last_q := q;
    last_p := p;
  END LOOP;
  RETURN true;
END
$$;

ALTER TABLE products
  ADD COLUMN price_tiers jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN order_increment integer NOT NULL DEFAULT 1 CHECK (order_increment BETWEEN 1 AND 1000000000),
  ADD COLUMN lead_time_days integer CHECK (lead_time_days BETWEEN 0 AND 365),
  ADD COLUMN suggested_retail_price_rials bigint
    CHECK (suggested_retail_price_rials > 0 AND suggested_retail_price_rials <= 1000000000000);

-- Checked after the columns exist so each check sees the row's final values.
ALTER TABLE products
  ADD CONSTRAINT products_price_tiers_check
    CHECK (price_tiers_valid(price_tiers, price_rials, order_increment, min_order_qty)),
  ADD CONSTRAINT products_min_order_increment_check CHECK (min_order_qty % order_increment = 0),
  -- Suggested retail price is what a shop would ask: never below the producer's wholesale price.
  ADD CONSTRAINT products_suggested_retail_check CHECK (suggested_retail_price_rials >= price_rials);

-- Each order line records, beside the unit price charged, the product's list price at placement
-- and where the charged price came from: 'list' (base price), 'tier' (a volume tier) or 'agreed'
-- (an invitation's or quote's price). Lines placed before this migration leave both NULL: which
-- applied then is not known.
ALTER TABLE order_lines
  ADD COLUMN list_price_rials bigint CHECK (list_price_rials > 0),
  ADD COLUMN price_source text CHECK (price_source IN ('list', 'tier', 'agreed'));
