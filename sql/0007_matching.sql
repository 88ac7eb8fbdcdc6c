-- Matching: what scoring reads per candidate, kept on the rows it scans, and invitations.

-- Granted certificates per product as {kind: latest expiry date}. Matching checks "granted and
-- unexpired" against today's Tehran date from this one value instead of a lookup per candidate.
ALTER TABLE products ADD COLUMN cert_expiry jsonb NOT NULL DEFAULT '{}';

CREATE FUNCTION product_cert_expiry(product bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_object_agg(kind, expires_on), '{}')
  FROM (SELECT kind, max(expires_on) AS expires_on FROM certificates
        WHERE product_id = product AND status = 'granted' GROUP BY kind) k
$$;

CREATE FUNCTION certificates_refresh_product() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE products SET cert_expiry = product_cert_expiry(OLD.product_id) WHERE id = OLD.product_id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE products SET cert_expiry = product_cert_expiry(NEW.product_id) WHERE id = NEW.product_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER certificates_refresh_product AFTER INSERT OR UPDATE OR DELETE ON certificates
  FOR EACH ROW EXECUTE FUNCTION certificates_refresh_product();

UPDATE products p SET cert_expiry = product_cert_expiry(p.id)
WHERE EXISTS (SELECT 1 FROM certificates c WHERE c.product_id = p.id AND c.status = 'granted');

-- Delivery record per producer: orders delivered against orders the producer rejected. A
-- cancellation is the buyer's decision, so it does not count against the producer (otherwise a
-- partner could lower a rival supplier's ranking by placing and cancelling orders).
CREATE TABLE producer_order_stats (
  producer_id bigint PRIMARY KEY REFERENCES producers(id),
  delivered   integer NOT NULL DEFAULT 0 CHECK (delivered >= 0),
  failed      integer NOT NULL DEFAULT 0 CHECK (failed >= 0)
);

CREATE FUNCTION orders_count_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO producer_order_stats AS s (producer_id, delivered, failed)
  VALUES (NEW.producer_id, (NEW.status = 'delivered')::int, (NEW.status <> 'delivered')::int)
  ON CONFLICT (producer_id) DO UPDATE
    SET delivered = s.delivered + EXCLUDED.delivered, failed = s.failed + EXCLUDED.failed;
  RETURN NULL;
END $$;
CREATE TRIGGER orders_count_outcome AFTER UPDATE OF status ON orders
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('delivered', 'rejected'))
  EXECUTE FUNCTION orders_count_outcome();

INSERT INTO producer_order_stats (producer_id, delivered, failed)
SELECT producer_id, count(*) FILTER (WHERE status = 'delivered'), count(*) FILTER (WHERE status = 'rejected')
FROM orders WHERE status IN ('delivered', 'rejected') GROUP BY producer_id;

-- Everything scoring reads, so ranking a category is an index-only scan.
CREATE INDEX products_match_idx ON products (category_code, unit, packaging_level)
  INCLUDE (id, producer_id, province_code, price_rials, stock, monthly_capacity, cert_expiry, search_text)
  WHERE searchable;

-- A partner's offer to one producer for one product of a demand; accepted, it becomes an order.
CREATE TABLE invitations (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  demand_id          bigint NOT NULL REFERENCES demands(id),
  partner_id         bigint NOT NULL REFERENCES partners(id),
  account_id         bigint NOT NULL REFERENCES accounts(id),     -- who invited; the order's buyer
  producer_id        bigint NOT NULL REFERENCES producers(id),
  product_id         bigint NOT NULL REFERENCES products(id),
  quantity           integer NOT NULL CHECK (quantity > 0),
  unit_price_rials   bigint NOT NULL CHECK (unit_price_rials > 0),
  delivery           jsonb NOT NULL,
  note               text CHECK (length(note) <= 2000),
  status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined', 'withdrawn')),
  decline_reason     text CHECK (length(decline_reason) <= 1000),
  order_id           bigint REFERENCES orders(id),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT invitations_order_id_check CHECK ((status = 'accepted') = (order_id IS NOT NULL))
);
-- One open offer per product and demand: a second is a 409, not a duplicate.
CREATE UNIQUE INDEX invitations_product_id_key ON invitations (demand_id, product_id) WHERE status = 'pending';
CREATE INDEX invitations_producer_idx ON invitations (producer_id, id);
CREATE INDEX invitations_partner_idx ON invitations (partner_id, id);
CREATE INDEX invitations_demand_idx ON invitations (demand_id, id);
