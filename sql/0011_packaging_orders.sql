-- Issue 12, parts 3 and 4: declared versus approved packaging; orders that expire, declines with
-- a reason category, delivery confirmed by the buyer (or automatically), and a delivery record
-- that counts only what the producer is accountable for.

-- ------------------------------------------------------------------ packaging
-- `level` stays the producer's declaration; `approved_level` is what a supervisor (or admin)
-- approved after review, and products.packaging_level keeps meaning the approved rank (0 until
-- approval), so search and matching read only approved levels.
ALTER TABLE product_packaging
  ADD COLUMN approved_level text CHECK (approved_level IN ('none', 'basic', 'retail', 'export')),
  ADD COLUMN review_status  text NOT NULL DEFAULT 'pending_review'
                            CHECK (review_status IN ('pending_review', 'approved', 'rejected')),
  ADD COLUMN reviewed_at    timestamptz,
  ADD COLUMN reviewed_by    bigint REFERENCES accounts(id),
  ADD COLUMN review_reason  text CHECK (length(review_reason) <= 1000),
  -- Who made the current declaration, so that nobody approves their own (four eyes). Null for
  -- declarations from before this column: any reviewer may decide those.
  ADD COLUMN declared_by    bigint REFERENCES accounts(id);

-- Only an approval recorded under the old model (improvement_status 'approved', set by staff)
-- carries over; every other declaration waits for review.
UPDATE product_packaging
SET approved_level = level, review_status = 'approved', reviewed_at = updated_at
WHERE improvement_status = 'approved';

INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action, from_status, to_status, reason)
SELECT NULL, 'system', 'packaging', k.product_id, p.province_code, 'packaging.review_migrated', k.improvement_status,
  k.review_status, 'declared and approved packaging levels introduced'
FROM product_packaging k JOIN products p ON p.id = k.product_id
ORDER BY k.product_id;

UPDATE products p
SET packaging_level = coalesce(
  (SELECT array_position(ARRAY['none', 'basic', 'retail', 'export'], k.approved_level) - 1
   FROM product_packaging k WHERE k.product_id = p.id), 0)
WHERE p.packaging_level <> coalesce(
  (SELECT array_position(ARRAY['none', 'basic', 'retail', 'export'], k.approved_level) - 1
   FROM product_packaging k WHERE k.product_id = p.id), 0);

ALTER TABLE product_packaging DROP COLUMN improvement_status;

CREATE INDEX product_packaging_review_idx ON product_packaging (updated_at) WHERE review_status = 'pending_review';

-- ------------------------------------------------------------------ orders
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
  CHECK (status IN ('placed', 'accepted', 'rejected', 'packed', 'shipped', 'delivered', 'cancelled', 'expired', 'disputed',
                    'dispute_upheld'));
ALTER TABLE orders DROP CONSTRAINT orders_tracking_code_check2;
ALTER TABLE orders ADD CONSTRAINT orders_tracking_code_check2
  CHECK (status NOT IN ('shipped', 'disputed', 'delivered', 'dispute_upheld') OR tracking_code IS NOT NULL);

-- expires_at: accept-by deadline, set at placement. confirm_by: when a shipped order that the
-- buyer has not disputed counts as delivered, set when shipped (null: never automatic, e.g. rows
-- inserted outside the API). Orders open at the upgrade get
-- a full window from now: nobody was told of a deadline before.
ALTER TABLE orders
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN confirm_by timestamptz,
  ADD COLUMN rejection_reason_code text CHECK (rejection_reason_code IN (
    'out_of_stock', 'cannot_meet_terms', 'capacity', 'other_producer',
    'buyer_unreachable', 'buyer_request', 'suspected_fraud', 'delivery_address_invalid')),
  -- When the buyer (or the province's supervisor, or an admin) confirmed a buyer-side reason.
  ADD COLUMN rejection_confirmed_at timestamptz;
UPDATE orders SET expires_at = now() + interval '72 hours' WHERE status = 'placed';
UPDATE orders SET confirm_by = now() + interval '14 days' WHERE status = 'shipped';
-- Rows inserted without the API (data sets, manual fixes) still get a deadline.
ALTER TABLE orders ALTER COLUMN expires_at SET DEFAULT now() + interval '72 hours';
-- The API requires a reason code on every rejection; a rejection without one (from before codes
-- existed, or inserted outside the API) counts as producer-caused, as every rejection did before.
ALTER TABLE orders ADD CONSTRAINT orders_rejection_reason_code_check2
  CHECK (status = 'rejected' OR rejection_reason_code IS NULL);
-- Only a buyer-side reason is confirmed: a producer-side one is already the producer's admission.
ALTER TABLE orders ADD CONSTRAINT orders_rejection_confirmed_at_check CHECK (rejection_confirmed_at IS NULL OR (
  status = 'rejected' AND rejection_reason_code IN ('buyer_unreachable', 'buyer_request', 'suspected_fraud', 'delivery_address_invalid')));
ALTER TABLE orders ADD CONSTRAINT orders_expires_at_check CHECK (status <> 'placed' OR expires_at IS NOT NULL);

-- What the sweeper looks for.
CREATE INDEX orders_expiry_idx ON orders (expires_at) WHERE status = 'placed';
CREATE INDEX orders_confirm_idx ON orders (confirm_by) WHERE status = 'shipped';

ALTER TABLE order_events ADD COLUMN reason_code text;

CREATE OR REPLACE FUNCTION orders_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
      ('placed', 'accepted'), ('placed', 'rejected'), ('accepted', 'packed'), ('packed', 'shipped'),
      ('shipped', 'delivered'), ('placed', 'cancelled'), ('accepted', 'cancelled'), ('placed', 'expired'),
      ('shipped', 'disputed'), ('disputed', 'delivered'), ('disputed', 'dispute_upheld')) THEN
    RAISE EXCEPTION 'order status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_status_check';
  END IF;
  RETURN NEW;
END $$;

-- The delivery record counts what the producer answers for: confirmed deliveries (by the buyer,
-- automatically, or by staff settling a dispute in the producer's favour), rejections (whatever
-- the code, until the buyer or staff confirm a buyer-side reason) and disputes upheld against
-- the producer by staff. Expiries and cancellations do not count. orders_count_outcome (0007)
-- already counts `delivered` as delivered and anything else it sees as failed; it now also sees
-- `dispute_upheld`.
DROP TRIGGER orders_count_outcome ON orders;
CREATE TRIGGER orders_count_outcome AFTER UPDATE OF status ON orders
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('delivered', 'rejected', 'dispute_upheld'))
  EXECUTE FUNCTION orders_count_outcome();

-- A confirmed buyer-side reason takes the rejection out of the failures, once.
CREATE FUNCTION orders_count_rejection_confirmed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE producer_order_stats SET failed = failed - 1 WHERE producer_id = NEW.producer_id;
  RETURN NULL;
END $$;
CREATE TRIGGER orders_rejection_confirmed AFTER UPDATE OF rejection_confirmed_at ON orders
  FOR EACH ROW WHEN (OLD.rejection_confirmed_at IS NULL AND NEW.rejection_confirmed_at IS NOT NULL AND NEW.status = 'rejected')
  EXECUTE FUNCTION orders_count_rejection_confirmed();

-- Recount from the orders themselves, so the record matches the rule above exactly.
INSERT INTO producer_order_stats AS s (producer_id, delivered, failed)
SELECT producer_id, count(*) FILTER (WHERE status = 'delivered'),
  count(*) FILTER (WHERE status IN ('rejected', 'dispute_upheld') AND rejection_confirmed_at IS NULL)
FROM orders WHERE status IN ('delivered', 'rejected', 'dispute_upheld') GROUP BY producer_id
ON CONFLICT (producer_id) DO UPDATE SET delivered = EXCLUDED.delivered, failed = EXCLUDED.failed;
