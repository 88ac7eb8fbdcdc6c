-- The event log (a transactional outbox): every change someone else cares about writes an event
-- in the same transaction. `data` is the subject as the API shows it at that moment. Who may read
-- an event follows from the province, producer and partner company it concerns (NULL: none).
-- Kept for BAZAARCHE_EVENT_RETENTION_DAYS (default 30), then deleted by the service.
CREATE TABLE events (
  id            bigserial PRIMARY KEY,
  type          text NOT NULL,
  occurred_at   timestamptz NOT NULL DEFAULT now(),
  subject_type  text NOT NULL,
  subject_id    bigint NOT NULL,
  data          jsonb NOT NULL,
  province_code text,
  producer_id   bigint,
  partner_id    bigint
);
CREATE INDEX events_occurred_idx ON events (occurred_at);
CREATE INDEX events_producer_idx ON events (producer_id, id) WHERE producer_id IS NOT NULL;
CREATE INDEX events_partner_idx ON events (partner_id, id) WHERE partner_id IS NOT NULL;
CREATE INDEX events_province_idx ON events (province_code, id);

-- Written once, read, and deleted when old; never rewritten.
REVOKE UPDATE ON events FROM bazaarche_runtime;
