-- Orders: one partner, one producer, lines priced at placement, stock reserved in the same
-- transaction. products.stock >= 0 (0003) is what finally makes overselling impossible.

CREATE TABLE orders (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  partner_account_id     bigint NOT NULL REFERENCES accounts(id),
  producer_id            bigint NOT NULL REFERENCES producers(id),
  province_code          text NOT NULL REFERENCES provinces(code),   -- the producer's, for supervisors
  status                 text NOT NULL DEFAULT 'placed'
                         CHECK (status IN ('placed', 'accepted', 'rejected', 'packed', 'shipped', 'delivered', 'cancelled')),
  total_rials            bigint NOT NULL CHECK (total_rials > 0),
  delivery_province_code text NOT NULL REFERENCES provinces(code),
  delivery_city          text NOT NULL CHECK (length(delivery_city) BETWEEN 1 AND 100),
  delivery_address       text NOT NULL CHECK (length(delivery_address) BETWEEN 1 AND 500),
  delivery_recipient     text NOT NULL CHECK (length(delivery_recipient) BETWEEN 1 AND 200),
  delivery_phone         text NOT NULL CHECK (delivery_phone ~ '^0[0-9]{10}$'),
  note                   text CHECK (length(note) <= 2000),
  tracking_code          text CHECK (length(tracking_code) BETWEEN 1 AND 100),
  version                integer NOT NULL DEFAULT 1,   -- the ETag; bumped by every transition
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT orders_tracking_code_check2 CHECK (status NOT IN ('shipped', 'delivered') OR tracking_code IS NOT NULL)
);
CREATE INDEX orders_partner_idx ON orders (partner_account_id, id);
CREATE INDEX orders_producer_idx ON orders (producer_id, id);
CREATE INDEX orders_province_idx ON orders (province_code, id);
CREATE INDEX orders_delivered_idx ON orders (producer_id) WHERE status = 'delivered';

-- The lifecycle, enforced by the database as well as the API.
CREATE FUNCTION orders_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
      ('placed', 'accepted'), ('placed', 'rejected'), ('accepted', 'packed'), ('packed', 'shipped'),
      ('shipped', 'delivered'), ('placed', 'cancelled'), ('accepted', 'cancelled')) THEN
    RAISE EXCEPTION 'order status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_status_check';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER orders_transition BEFORE UPDATE OF status ON orders
  FOR EACH ROW EXECUTE FUNCTION orders_check_transition();

CREATE TABLE order_lines (
  order_id         bigint NOT NULL REFERENCES orders(id),
  line_no          smallint NOT NULL CHECK (line_no >= 1),
  product_id       bigint NOT NULL REFERENCES products(id),
  title_fa         text NOT NULL,                         -- as it was when ordered
  unit             text NOT NULL,
  quantity         integer NOT NULL CHECK (quantity > 0),
  unit_price_rials bigint NOT NULL CHECK (unit_price_rials > 0),
  line_total_rials bigint NOT NULL CHECK (line_total_rials = quantity * unit_price_rials),
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT order_lines_product_id_key UNIQUE (order_id, product_id)
);
CREATE INDEX order_lines_product_idx ON order_lines (product_id);

-- The order's own history (the audit trail has it too, for cross-entity queries).
CREATE TABLE order_events (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  order_id         bigint NOT NULL REFERENCES orders(id),
  occurred_at      timestamptz NOT NULL DEFAULT now(),
  actor_account_id bigint REFERENCES accounts(id),
  actor_role       text NOT NULL,
  from_status      text,
  to_status        text NOT NULL,
  reason           text,
  tracking_code    text
);
CREATE INDEX order_events_order_idx ON order_events (order_id, id);

-- Idempotency keys, per caller. The row is inserted in the same transaction as the order, so a
-- concurrent retry with the same key blocks on it and then replays the stored response.
CREATE TABLE idempotency_keys (
  account_id      bigint NOT NULL REFERENCES accounts(id),
  key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
  operation       text NOT NULL,
  request_hash    bytea NOT NULL,
  response_status smallint,
  response_body   text,
  response_headers jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
