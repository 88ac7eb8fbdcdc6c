-- Two actors, not one: the implementing body's staff (implementer) do the programme's work in one
-- or more provinces; the province directorate's supervisor decides and inspects. Nothing a
-- supervisor could decide is lost: applicants already screened get a pending verification proposal
-- (proposer unknown, carried over) so their supervisor can still verify them.

ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
  CHECK (role IN ('admin', 'supervisor', 'implementer', 'producer', 'partner', 'export_officer'));

-- An implementer's provinces (validated against provinces by the service; arrays cannot hold
-- foreign keys and the list is small and read on every request with the token).
ALTER TABLE accounts ADD COLUMN province_codes text[];
ALTER TABLE accounts ADD CONSTRAINT accounts_implementer_provinces_check
  CHECK ((role = 'implementer') = (province_codes IS NOT NULL AND cardinality(province_codes) > 0));

-- An implementer proposes; a supervisor of the producer's province (or an admin) decides, never
-- the account that proposed. At most one pending proposal per producer.
CREATE TABLE verification_proposals (
  id           bigserial PRIMARY KEY,
  producer_id  bigint NOT NULL REFERENCES producers(id),
  proposed_by  bigint REFERENCES accounts(id),   -- NULL only for proposals carried over by this migration
  proposed_at  timestamptz NOT NULL DEFAULT now(),
  note         text,
  status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'sent_back', 'withdrawn')),
  decided_by   bigint REFERENCES accounts(id),
  decided_at   timestamptz,
  reasons      text[] NOT NULL DEFAULT '{}',
  decision_note text,
  CHECK ((status = 'pending') = (decided_at IS NULL)),
  CHECK (status IN ('pending', 'withdrawn') OR decided_by IS NOT NULL),
  CHECK (status <> 'sent_back' OR cardinality(reasons) > 0),
  CHECK (decided_by IS NULL OR proposed_by IS NULL OR decided_by <> proposed_by)
);
CREATE UNIQUE INDEX verification_proposals_one_pending ON verification_proposals (producer_id) WHERE status = 'pending';
CREATE INDEX verification_proposals_queue ON verification_proposals (proposed_at, id) WHERE status = 'pending';
CREATE INDEX verification_proposals_producer ON verification_proposals (producer_id, id);

INSERT INTO verification_proposals (producer_id, proposed_at, note)
SELECT id, coalesce(screened_at, updated_at), 'carried over: screened before implementers existed'
FROM producers WHERE status = 'screened';

-- Inspections a supervisor records: on a producer, a course or a counselling session, or on the
-- implementing body's work in the province in general.
CREATE TABLE inspections (
  id             bigserial PRIMARY KEY,
  province_code  text NOT NULL REFERENCES provinces(code),
  subject_type   text NOT NULL CHECK (subject_type IN ('producer', 'course', 'counseling_session', 'general')),
  subject_id     bigint,
  subject        text NOT NULL,
  inspected_on   date NOT NULL,
  findings       text NOT NULL,
  follow_up_due  date,
  followed_up_at timestamptz,
  follow_up_note text,
  inspector_id   bigint NOT NULL REFERENCES accounts(id),
  created_at     timestamptz NOT NULL DEFAULT now(),
  CHECK ((subject_type = 'general') = (subject_id IS NULL)),
  CHECK (followed_up_at IS NULL OR follow_up_due IS NOT NULL)
);
CREATE INDEX inspections_province_idx ON inspections (province_code, id);
CREATE INDEX inspections_due_idx ON inspections (follow_up_due) WHERE followed_up_at IS NULL AND follow_up_due IS NOT NULL;

-- Finding people: staff search by name, national ID or mobile (Persian-normalised names).
CREATE INDEX producers_names_trgm_idx ON producers
  USING gin (fa_normalize(first_name || ' ' || last_name) gin_trgm_ops);
