-- Issue 18: order placement in one round trip. The whole placement (checks, locks, stock, order,
-- lines, history, audit, outbox event, detail JSON) runs in `place_order`; POST /v1/orders calls
-- `place_order_keyed`, which also claims the Idempotency-Key and stores the 201 response, as one
-- prepared statement in its implicit transaction. The rules' messages stay in Swift
-- (Sources/Orders/Orders.swift): a refusal raises SQLSTATE BZ001 with a DETAIL holding the rows
-- the checks read (producer, locked products), and Swift runs its checks on them to word the error.

-- The order as GET /v1/orders/{id} shows it, with its history: one definition for the reads, the
-- placement and the outbox events. PL/pgSQL so its plan is cached per session (a SQL function
-- with subqueries is never inlined and would be planned on every call).
CREATE FUNCTION order_detail_json(o orders) RETURNS jsonb
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
  RETURN json_build_object('id', o.id, 'partner_account_id', o.partner_account_id, 'producer_id', o.producer_id,
      'province_code', o.province_code, 'status', o.status, 'total_rials', o.total_rials,
      'delivery', json_build_object('province_code', o.delivery_province_code, 'city', o.delivery_city,
         'address', o.delivery_address, 'recipient', o.delivery_recipient, 'phone', o.delivery_phone),
      'note', o.note, 'tracking_code', o.tracking_code,
      'expires_at', api_time(CASE WHEN o.status = 'placed' THEN o.expires_at END),
      'confirm_by', api_time(CASE WHEN o.status = 'shipped' THEN o.confirm_by END),
      'rejection_reason_code', o.rejection_reason_code, 'rejection_confirmed_at', api_time(o.rejection_confirmed_at),
      'lines', (SELECT json_agg(json_build_object('line_no', l.line_no, 'product_id', l.product_id, 'title_fa', l.title_fa,
                   'unit', l.unit, 'quantity', l.quantity, 'unit_price_rials', l.unit_price_rials,
                   'list_price_rials', l.list_price_rials, 'price_source', l.price_source,
                   'line_total_rials', l.line_total_rials) ORDER BY l.line_no)
                FROM order_lines l WHERE l.order_id = o.id),
      'created_at', api_time(o.created_at), 'updated_at', api_time(o.updated_at))::jsonb
    || jsonb_build_object('history', (SELECT json_agg(json_build_object('from', e.from_status,
       'to', e.to_status, 'at', api_time(e.occurred_at), 'actor_role', e.actor_role, 'reason', e.reason,
       'reason_code', e.reason_code, 'tracking_code', e.tracking_code) ORDER BY e.id)
       FROM order_events e WHERE e.order_id = o.id));
END
$$;

-- Places an order inside the caller's transaction. Products are locked in id order (as every path
-- taking several product locks does: no deadlocks); stock is checked under those locks, so it is
-- never oversold (the CHECK (stock >= 0) on products stays the last line of defence). Prices: the
-- agreed price (invitation, quote) wins, else tier_unit_price; price_source list/tier/agreed as
-- LockedProduct.charge. `with_event` is false only in the bench-outbox build.
CREATE FUNCTION place_order(
  buyer bigint, producer bigint, delivery_province text, city text, address text, recipient text, phone text,
  note text, product_ids bigint[], quantities bigint[], agreed_ids bigint[], agreed_prices bigint[],
  actor_account bigint, actor_role text, accept_hours integer, with_event boolean,
  OUT placed_id bigint, OUT placed_version integer, OUT placed_json text)
LANGUAGE plpgsql AS $$
DECLARE
  producer_status text;
  producer_province text;
  known_province boolean;
  refused boolean;
  order_total numeric;
  detail jsonb;
  o orders;
BEGIN
  SELECT p.status, p.province_code, EXISTS (SELECT 1 FROM provinces v WHERE v.code = delivery_province)
    INTO producer_status, producer_province, known_province
    FROM producers p WHERE p.id = producer;
  IF producer_status IS NULL OR producer_status <> 'verified' OR NOT known_province THEN
    RAISE EXCEPTION 'order refused' USING ERRCODE = 'BZ001', DETAIL = jsonb_build_object(
      'producer', CASE WHEN producer_status IS NOT NULL THEN jsonb_build_object('status', producer_status,
        'province_code', producer_province, 'known_province', known_province) END,
      'products', '[]'::jsonb)::text;
  END IF;

  PERFORM 1 FROM products p WHERE p.id = ANY(product_ids) ORDER BY p.id FOR UPDATE;

  -- The same rules as Orders.checkLines, checkStock and total, read under the locks.
  SELECT bool_or(p.id IS NULL OR p.producer_id <> producer OR NOT p.searchable OR l.quantity < p.min_order_qty
           OR (a.price IS NULL AND l.quantity % p.order_increment <> 0) OR p.stock < l.quantity),
         sum(coalesce(a.price, tier_unit_price(p.price_rials, p.price_tiers, l.quantity::int))::numeric * l.quantity)
    INTO refused, order_total
    FROM unnest(product_ids, quantities) AS l(id, quantity)
    LEFT JOIN products p ON p.id = l.id
    LEFT JOIN unnest(agreed_ids, agreed_prices) AS a(id, price) ON a.id = l.id;
  IF refused OR order_total > 9223372036854775807 THEN
    RAISE EXCEPTION 'order refused' USING ERRCODE = 'BZ001', DETAIL = jsonb_build_object(
      'producer', jsonb_build_object('status', producer_status, 'province_code', producer_province,
        'known_province', known_province),
      'products', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', p.id, 'producer_id', p.producer_id,
          'searchable', p.searchable, 'price_rials', p.price_rials, 'stock', p.stock, 'min_order_qty', p.min_order_qty,
          'title_fa', p.title_fa, 'unit', p.unit, 'price_tiers', p.price_tiers, 'order_increment', p.order_increment)
          ORDER BY p.id), '[]'::jsonb)
        FROM products p WHERE p.id = ANY(product_ids)))::text;
  END IF;

  UPDATE products p SET stock = p.stock - l.quantity, version = p.version + 1
    FROM unnest(product_ids, quantities) AS l(id, quantity) WHERE p.id = l.id;

  INSERT INTO orders (partner_account_id, producer_id, province_code, total_rials, delivery_province_code,
    delivery_city, delivery_address, delivery_recipient, delivery_phone, note, expires_at, partner_id)
  VALUES (buyer, producer, producer_province, order_total, delivery_province, city, address, recipient, phone,
    place_order.note, now() + make_interval(hours => accept_hours), (SELECT c.partner_id FROM accounts c WHERE c.id = buyer))
  RETURNING orders.id INTO placed_id;

  INSERT INTO order_lines (order_id, line_no, product_id, title_fa, unit, quantity, unit_price_rials, line_total_rials,
    list_price_rials, price_source)
  SELECT placed_id, l.n, l.id, p.title_fa, p.unit, l.quantity, c.price, l.quantity * c.price, p.price_rials,
    CASE WHEN a.price IS NOT NULL THEN 'agreed' WHEN c.price = p.price_rials THEN 'list' ELSE 'tier' END
  FROM unnest(product_ids, quantities) WITH ORDINALITY AS l(id, quantity, n)
  JOIN products p ON p.id = l.id
  LEFT JOIN unnest(agreed_ids, agreed_prices) AS a(id, price) ON a.id = l.id
  CROSS JOIN LATERAL (SELECT coalesce(a.price, tier_unit_price(p.price_rials, p.price_tiers, l.quantity::int)) AS price) c
  ORDER BY l.n;

  INSERT INTO order_events (order_id, actor_account_id, actor_role, from_status, to_status)
  VALUES (placed_id, actor_account, actor_role, NULL, 'placed');
  -- The row Audit.record writes.
  INSERT INTO audit_events (actor_account_id, actor_role, entity_type, entity_id, province_code, action, from_status,
    to_status, reason)
  VALUES (actor_account, actor_role, 'order', placed_id, producer_province, 'order.placed', NULL, 'placed', NULL);

  SELECT * INTO o FROM orders WHERE orders.id = placed_id;
  detail := order_detail_json(o);
  -- The row EventLog.record(.orderPlaced, subject: "order", from: Orders.eventSource) writes.
  IF with_event THEN
    INSERT INTO events (type, subject_type, subject_id, data, province_code, producer_id, partner_id)
    VALUES ('order.placed', 'order', placed_id, detail, o.province_code, o.producer_id, o.partner_id);
  END IF;
  placed_version := o.version;
  placed_json := detail::text;
END
$$;

-- POST /v1/orders in one statement: claims the Idempotency-Key (as Idempotency.run does: a retry
-- waits at most 5 s on the original's key row), places, and stores the 201 response. When the key
-- exists, nothing is placed and the stored row comes back (`claimed` false) for Swift to replay or
-- refuse. A refusal aborts the whole statement, key claim included; Swift then stores it through
-- Idempotency.run. Keys are cleaned up at the same rate as there (1 in 200).
CREATE FUNCTION place_order_keyed(
  account bigint, idem_key text, operation text, fingerprint text,
  producer bigint, delivery_province text, city text, address text, recipient text, phone text,
  note text, product_ids bigint[], quantities bigint[], actor_role text, accept_hours integer, with_event boolean,
  OUT claimed boolean, OUT same_request boolean, OUT response_status integer, OUT response_body text,
  OUT etag text, OUT location text, OUT retry_after text)
LANGUAGE plpgsql AS $$
DECLARE
  placed record;
BEGIN
  PERFORM set_config('lock_timeout', '5s', true);
  IF random() < 1.0 / 200 THEN
    DELETE FROM idempotency_keys WHERE created_at < now() - interval '48 hours';
  END IF;
  INSERT INTO idempotency_keys (account_id, key, operation, request_hash)
  VALUES (account, idem_key, place_order_keyed.operation, sha256(convert_to(fingerprint, 'UTF8')))
  ON CONFLICT (account_id, key) DO NOTHING;
  claimed := FOUND;
  IF NOT claimed THEN
    SELECT k.operation = place_order_keyed.operation AND k.request_hash = sha256(convert_to(fingerprint, 'UTF8')),
      k.response_status, k.response_body, k.response_headers->>'ETag', k.response_headers->>'Location',
      k.response_headers->>'Retry-After'
      INTO same_request, response_status, response_body, etag, location, retry_after
      FROM idempotency_keys k WHERE k.account_id = account AND k.key = idem_key;
    RETURN;
  END IF;
  placed := place_order(account, producer, delivery_province, city, address, recipient, phone, note, product_ids,
    quantities, '{}', '{}', account, actor_role, accept_hours, with_event);
  same_request := true;
  response_status := 201;
  response_body := placed.placed_json;
  etag := '"' || placed.placed_version || '"';
  location := '/v1/orders/' || placed.placed_id;
  UPDATE idempotency_keys k SET response_status = 201, response_body = placed.placed_json,
    response_headers = jsonb_build_object('ETag', etag, 'Location', location)
  WHERE k.account_id = account AND k.key = idem_key;
END
$$;
