-- Loan referrals (issue 14, item 5). The plan wants producers able to sell rather than dependent
-- on loans; applicants who want a facility register on the ministry's own site. A referral records
-- what a producer says about seeking a facility and, when it seeks one, its registration there and
-- what the ministry decided (as the implementer reads it off the ministry's site).
--
-- seeking = false records the answer "does not seek a facility": nothing else is filled in.
-- seeking = true needs the purpose, the amount band and the tracking code of the registration on
-- the ministry's site, and starts as 'registered'.
CREATE TABLE loan_referrals (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  producer_id            bigint NOT NULL REFERENCES producers(id),
  seeking                boolean NOT NULL,
  purpose                text CHECK (purpose IN ('equipment', 'raw_materials', 'workspace', 'working_capital', 'other')),
  purpose_note           text CHECK (length(purpose_note) <= 500),
  -- Bands of the requested amount, in Iranian rials (docs/programme.md, "Loan referrals").
  amount_band            text CHECK (amount_band IN ('up_to_500m', 'from_500m_to_1b', 'from_1b_to_2b', 'from_2b_to_5b',
                                                     'over_5b')),
  -- The ministry's own code for the registration: digits only; its exact length is the ministry's.
  ministry_tracking_code text CHECK (ministry_tracking_code ~ '^[0-9]{6,20}$'),
  status                 text CHECK (status IN ('registered', 'under_review', 'granted', 'declined')),
  registered_on          date,   -- the registration's date on the ministry's site (Tehran)
  decided_on             date,   -- the ministry's decision date, for granted and declined
  recorded_by            bigint NOT NULL REFERENCES accounts(id),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT loan_referrals_seeking_check CHECK (
    CASE WHEN seeking
      THEN purpose IS NOT NULL AND amount_band IS NOT NULL AND ministry_tracking_code IS NOT NULL
           AND status IS NOT NULL AND registered_on IS NOT NULL
      ELSE purpose IS NULL AND purpose_note IS NULL AND amount_band IS NULL AND ministry_tracking_code IS NULL
           AND status IS NULL AND registered_on IS NULL AND decided_on IS NULL
    END),
  CONSTRAINT loan_referrals_decided_check CHECK ((status IN ('granted', 'declined')) = (decided_on IS NOT NULL)),
  CONSTRAINT loan_referrals_dates_check CHECK (decided_on >= registered_on)
);
-- One registration on the ministry's site is one referral.
CREATE UNIQUE INDEX loan_referrals_tracking_code_key ON loan_referrals (ministry_tracking_code);
-- At most one open application per producer at a time.
CREATE UNIQUE INDEX loan_referrals_one_open ON loan_referrals (producer_id) WHERE status IN ('registered', 'under_review');
CREATE INDEX loan_referrals_producer_idx ON loan_referrals (producer_id, id);
CREATE INDEX loan_referrals_granted_idx ON loan_referrals (producer_id, decided_on) WHERE status = 'granted';

-- The ministry's process as the database allows it: registered → under_review → granted | declined,
-- or registered → granted | declined when the site shows the decision at once. Decisions are final.
CREATE FUNCTION loan_referrals_check_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status AND (OLD.status, NEW.status) NOT IN (
      ('registered', 'under_review'), ('registered', 'granted'), ('registered', 'declined'),
      ('under_review', 'granted'), ('under_review', 'declined')) THEN
    RAISE EXCEPTION 'loan referral status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'loan_referrals_status_check';
  END IF;
  IF NEW.seeking IS DISTINCT FROM OLD.seeking OR NEW.producer_id IS DISTINCT FROM OLD.producer_id THEN
    RAISE EXCEPTION 'a loan referral keeps its producer and its answer'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'loan_referrals_status_check';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER loan_referrals_transition BEFORE UPDATE ON loan_referrals
  FOR EACH ROW EXECUTE FUNCTION loan_referrals_check_transition();

-- A delivered order's delivery time, for "first sale without a loan": the order history says when
-- it became delivered (events for bulk moves included).
CREATE INDEX order_events_delivered_idx ON order_events (order_id, occurred_at) WHERE to_status = 'delivered';
