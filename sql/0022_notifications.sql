-- Producer notifications: an inbox and SMS for the events a producer must not miss
-- (docs/integrations.md, "Producer notifications").

-- One row per (event, producer), made by a trigger on events in the event's own transaction:
-- a committed change always has its notification, a rolled-back one never does, and the unique
-- key keeps it from being made twice. Titles and texts are rendered (in Persian) from `kind` and
-- `data` when read, so the inbox and the SMS always say the same thing.
-- event_id has no foreign key: events are deleted after their retention, notifications stay.
-- Events logged before this migration make no notifications (no flood of SMS on upgrade).
CREATE TABLE notifications (
  id             bigserial PRIMARY KEY,
  producer_id    bigint NOT NULL REFERENCES producers (id),
  event_id       bigint NOT NULL,
  event_type     text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('new_order', 'new_invitation', 'order_expiring', 'certificate_decision',
                                               'certificate_expiring')),
  subject_type   text NOT NULL,
  subject_id     bigint NOT NULL,
  -- The subject as the event carried it (the API's JSON at that moment).
  data           jsonb NOT NULL,
  created_at     timestamptz NOT NULL,
  read_at        timestamptz,
  -- The SMS for this notification: 'pending' (waiting for the worker, or for quiet hours to end),
  -- 'sending' (recorded in sms_messages, being delivered or waiting for a retry), 'sent', or why
  -- none went: 'off' (the producer's preference), 'capped' (the daily limit), 'failed' (retries
  -- exhausted).
  sms_status     text NOT NULL DEFAULT 'pending'
                 CHECK (sms_status IN ('pending', 'sending', 'sent', 'off', 'capped', 'failed')),
  sms_due_at     timestamptz,
  sms_attempts   integer NOT NULL DEFAULT 0,
  sms_message_id bigint REFERENCES sms_messages (id),
  sms_last_error text,
  CONSTRAINT notifications_event_producer_key UNIQUE (event_id, producer_id)
);
CREATE INDEX notifications_producer_idx ON notifications (producer_id, id);
CREATE INDEX notifications_unread_idx ON notifications (producer_id, id) WHERE read_at IS NULL;
CREATE INDEX notifications_sms_due_idx ON notifications (sms_due_at) WHERE sms_status IN ('pending', 'sending');

-- A producer's choices; no row means the defaults (every SMS on, quiet hours 22:00–08:00 Tehran).
-- Quiet hours are minutes after midnight, Tehran time; both NULL: none.
CREATE TABLE notification_preferences (
  producer_id       bigint PRIMARY KEY REFERENCES producers (id),
  sms_off           text[] NOT NULL DEFAULT '{}',
  quiet_start_minute integer CHECK (quiet_start_minute BETWEEN 0 AND 1439),
  quiet_end_minute   integer CHECK (quiet_end_minute BETWEEN 0 AND 1439),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((quiet_start_minute IS NULL) = (quiet_end_minute IS NULL)),
  CHECK (quiet_start_minute IS DISTINCT FROM quiet_end_minute OR quiet_start_minute IS NULL)
);

-- SMS sent per producer per Tehran day, counted by an atomic upsert, so several instances never
-- pass the daily limit between them.
CREATE TABLE notification_sms_days (
  producer_id bigint NOT NULL REFERENCES producers (id),
  day         date NOT NULL,
  sent        integer NOT NULL CHECK (sent >= 0),
  PRIMARY KEY (producer_id, day)
);

-- What the sweeps have announced (an order's approaching accept-by time, a certificate's
-- approaching expiry): the primary key makes each announcement happen once, whatever the number
-- of instances sweeping.
CREATE TABLE notification_sweeps (
  event_type text NOT NULL,
  subject_id bigint NOT NULL,
  swept_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_type, subject_id)
);

ALTER TABLE sms_messages DROP CONSTRAINT sms_messages_purpose_check;
ALTER TABLE sms_messages ADD CONSTRAINT sms_messages_purpose_check
  CHECK (purpose IN ('application_code', 'application_notice', 'account_notice', 'producer_notification'));

CREATE FUNCTION notify_producer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  k text;
BEGIN
  IF NEW.producer_id IS NULL THEN RETURN NULL; END IF;
  k := CASE NEW.type
         WHEN 'order.placed' THEN 'new_order'
         WHEN 'invitation.created' THEN 'new_invitation'
         WHEN 'order.expiring_soon' THEN 'order_expiring'
         WHEN 'certificate.granted' THEN 'certificate_decision'
         WHEN 'certificate.rejected' THEN 'certificate_decision'
         WHEN 'certificate.revoked' THEN 'certificate_decision'
         WHEN 'certificate.expiring_soon' THEN 'certificate_expiring'
       END;
  IF k IS NULL THEN RETURN NULL; END IF;
  INSERT INTO notifications (producer_id, event_id, event_type, kind, subject_type, subject_id, data, created_at, sms_due_at)
  VALUES (NEW.producer_id, NEW.id, NEW.type, k, NEW.subject_type, NEW.subject_id, NEW.data, NEW.occurred_at, NEW.occurred_at)
  ON CONFLICT (event_id, producer_id) DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER events_notify_producer AFTER INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION notify_producer();
