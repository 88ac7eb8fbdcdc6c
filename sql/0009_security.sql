-- Login throttling, shared by every instance: failures counted per login and per client address
-- in a 15-minute window; past the limit the key is blocked until `blocked_until`.
CREATE TABLE login_throttle (
  key            text PRIMARY KEY CHECK (length(key) <= 300),   -- 'login:<login>' or 'address:<ip>'
  failures       integer NOT NULL CHECK (failures >= 0),
  window_started timestamptz NOT NULL,
  blocked_until  timestamptz
);
CREATE INDEX login_throttle_window_idx ON login_throttle (window_started);

-- Databases migrated before the replay headers were added to 0004 lack this column.
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS response_headers jsonb;
