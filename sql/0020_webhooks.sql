-- Webhooks: endpoints that partner companies (or admins, for integrations) register, and one
-- delivery per (endpoint, event) that a worker sends and retries (docs/integrations.md).

-- partner_id NULL: an admin's endpoint, which receives every event it asks for.
-- The secret signs deliveries and must be readable to do so: it is stored as it is (like a
-- database password in the service's environment), shown once, and replaceable by rotation.
CREATE TABLE webhook_endpoints (
  id                         bigserial PRIMARY KEY,
  partner_id                 bigint REFERENCES partners (id),
  created_by                 bigint REFERENCES accounts (id),
  url                        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
  event_types                text[] NOT NULL CHECK (cardinality(event_types) BETWEEN 1 AND 100),
  description                text CHECK (length(description) <= 500),
  enabled                    boolean NOT NULL DEFAULT true,
  disabled_reason            text,
  secret                     text NOT NULL,
  previous_secret            text,
  previous_secret_expires_at timestamptz,
  -- The current run of failed attempts: reset by any success; a run that lasts long enough
  -- disables the endpoint.
  consecutive_failures       integer NOT NULL DEFAULT 0,
  failing_since              timestamptz,
  created_at                 timestamptz NOT NULL DEFAULT now(),
  updated_at                 timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_partner_idx ON webhook_endpoints (partner_id, id);
-- The fan-out trigger reads only enabled endpoints: cheap with few of them, whatever the event rate.
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints (partner_id) WHERE enabled;

CREATE TABLE webhook_deliveries (
  id               bigserial PRIMARY KEY,
  endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  event_id         bigint NOT NULL REFERENCES events (id) ON DELETE CASCADE,
  -- Copied from the event: deliveries of one subject to one endpoint go in event order.
  subject_type     text NOT NULL,
  subject_id       bigint NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  -- Retries stop at this time (3 days after the event, or after a manual redelivery).
  give_up_at       timestamptz NOT NULL,
  -- A claimed delivery is leased: another instance takes it over only once the lease has run out
  -- (the first one crashed), so each attempt is made once and none is lost.
  locked_until     timestamptz,
  last_status_code integer,
  last_latency_ms  integer,
  last_error       text,
  last_attempt_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_subject_idx ON webhook_deliveries (endpoint_id, subject_type, subject_id, event_id)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- One row per attempt made (the delivery log).
CREATE TABLE webhook_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  attempt      integer NOT NULL,
  attempted_at timestamptz NOT NULL,
  status_code  integer,
  latency_ms   integer NOT NULL,
  error        text,
  UNIQUE (delivery_id, attempt)
);
REVOKE UPDATE ON webhook_attempts FROM bazaarche_runtime;

-- Every event fans out to the enabled endpoints that want its type and may see it, in the
-- event's own transaction: no emitter needs to know about webhooks, and a rolled-back change
-- delivers nothing. Types: exact ('order.placed'), a family ('order.*') or everything ('*').
CREATE FUNCTION webhook_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO webhook_deliveries (endpoint_id, event_id, subject_type, subject_id, next_attempt_at, give_up_at)
  SELECT w.id, NEW.id, NEW.subject_type, NEW.subject_id, NEW.occurred_at, NEW.occurred_at + interval '3 days'
  FROM webhook_endpoints w
  WHERE w.enabled
    AND (w.partner_id IS NULL OR w.partner_id = NEW.partner_id)
    AND w.event_types && ARRAY['*', NEW.type, split_part(NEW.type, '.', 1) || '.*'];
  RETURN NULL;
END $$;

CREATE TRIGGER events_webhook_fan_out AFTER INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION webhook_fan_out();
