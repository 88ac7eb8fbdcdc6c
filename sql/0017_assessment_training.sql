-- Assessed screening and online training (issue 14).
--
-- Screening an applicant needs a completed assessment: a rubric of criteria each scored 0–5 by
-- an implementer (the assessor), online or in person, on a date, with notes and recommended
-- courses. A completed assessment is evidence for a decision and never changes afterwards.
-- Courses gain modules (video, document, live session), a pass mark for a final assessment,
-- and per-module progress; an enrolment completes when the course's rules are met.
-- Counselling gains the certificate-preparation topic (national standards) and may name the
-- certificate kind it prepares for.

CREATE TABLE assessments (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  producer_id         bigint NOT NULL REFERENCES producers(id),
  assessor_account_id bigint NOT NULL REFERENCES accounts(id),
  mode                text NOT NULL CHECK (mode IN ('online', 'in_person')),
  assessed_on         date NOT NULL,
  notes               text CHECK (length(notes) <= 4000),
  status              text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'completed')),
  -- The mean of the criteria's scores, fixed when the assessment is completed.
  mean_score          numeric(3, 2) CHECK (mean_score BETWEEN 0 AND 5),
  completed_at        timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT assessments_completed_check CHECK ((status = 'completed') = (completed_at IS NOT NULL AND mean_score IS NOT NULL))
);
CREATE INDEX assessments_producer_idx ON assessments (producer_id, id);
-- Screening asks "has this producer a completed assessment?".
CREATE INDEX assessments_completed_idx ON assessments (producer_id) WHERE status = 'completed';

CREATE TABLE assessment_scores (
  assessment_id bigint NOT NULL REFERENCES assessments(id),
  criterion     text NOT NULL CHECK (criterion IN (
                  'skill_level', 'production_readiness', 'space_and_equipment', 'market_potential', 'motivation')),
  score         smallint NOT NULL CHECK (score BETWEEN 0 AND 5),
  notes         text CHECK (length(notes) <= 2000),
  PRIMARY KEY (assessment_id, criterion)
);

CREATE TABLE assessment_courses (
  assessment_id bigint NOT NULL REFERENCES assessments(id),
  course_id     bigint NOT NULL REFERENCES courses(id),
  PRIMARY KEY (assessment_id, course_id)
);
CREATE INDEX assessment_courses_course_idx ON assessment_courses (course_id);

-- A completed assessment is immutable: no path may edit its row, its scores or its courses.
CREATE FUNCTION assessments_refuse_completed_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  target bigint;
BEGIN
  IF TG_TABLE_NAME = 'assessments' THEN
    IF OLD.status = 'completed' THEN
      RAISE EXCEPTION 'assessment % is completed and cannot change', OLD.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'assessments_status_check';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  target := CASE WHEN TG_OP = 'INSERT' THEN NEW.assessment_id ELSE OLD.assessment_id END;
  IF EXISTS (SELECT 1 FROM assessments WHERE id = target AND status = 'completed') THEN
    RAISE EXCEPTION 'assessment % is completed and cannot change', target
      USING ERRCODE = 'check_violation', CONSTRAINT = 'assessments_status_check';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER assessments_immutable BEFORE UPDATE OR DELETE ON assessments
  FOR EACH ROW EXECUTE FUNCTION assessments_refuse_completed_change();
CREATE TRIGGER assessment_scores_immutable BEFORE INSERT OR UPDATE OR DELETE ON assessment_scores
  FOR EACH ROW EXECUTE FUNCTION assessments_refuse_completed_change();
CREATE TRIGGER assessment_courses_immutable BEFORE INSERT OR UPDATE OR DELETE ON assessment_courses
  FOR EACH ROW EXECUTE FUNCTION assessments_refuse_completed_change();

-- Courses: a final assessment's pass mark (percent); NULL: the course has no final assessment.
ALTER TABLE courses ADD COLUMN pass_mark smallint CHECK (pass_mark BETWEEN 0 AND 100);

CREATE TABLE course_modules (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  course_id  bigint NOT NULL REFERENCES courses(id),
  position   integer NOT NULL CHECK (position BETWEEN 1 AND 1000),
  title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  kind       text NOT NULL CHECK (kind IN ('video', 'document', 'live_session')),
  url        text NOT NULL CHECK (url ~ '^https://[^[:space:]]+$' AND length(url) <= 2000),
  minutes    integer NOT NULL CHECK (minutes BETWEEN 1 AND 1440),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX course_modules_course_idx ON course_modules (course_id, position, id);

-- The final assessment's score (percent), recorded by staff; status as a column for reports.
ALTER TABLE enrollments
  ADD COLUMN assessment_score smallint CHECK (assessment_score BETWEEN 0 AND 100),
  ADD COLUMN assessment_recorded_at timestamptz,
  ADD COLUMN assessment_recorded_by bigint REFERENCES accounts(id),
  ADD COLUMN status text GENERATED ALWAYS AS (CASE WHEN completed_at IS NULL THEN 'enrolled' ELSE 'completed' END) STORED;

-- One row per enrolment and module: a video watched or a document read (completed_at), a live
-- session's attendance (attended; false records an absence, which does not count as done).
CREATE TABLE module_progress (
  enrollment_id bigint NOT NULL REFERENCES enrollments(id),
  module_id     bigint NOT NULL REFERENCES course_modules(id),
  attended      boolean,
  completed_at  timestamptz,
  recorded_by   bigint NOT NULL REFERENCES accounts(id),
  recorded_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (enrollment_id, module_id),
  CONSTRAINT module_progress_attended_check CHECK (attended IS NOT FALSE OR completed_at IS NULL)
);
CREATE INDEX module_progress_module_idx ON module_progress (module_id);

-- Counselling: certificate preparation against national standards, and the certificate kind a
-- session prepares for (the kinds of certificates.kind).
ALTER TABLE counseling_sessions DROP CONSTRAINT counseling_sessions_topic_check;
ALTER TABLE counseling_sessions ADD CONSTRAINT counseling_sessions_topic_check
  CHECK (topic IN ('quality', 'packaging', 'branding', 'export', 'marketing', 'finance', 'standards'));
ALTER TABLE counseling_sessions ADD COLUMN certificate_kind text
  CHECK (certificate_kind IN ('inso', 'health_license', 'halal', 'iso22000', 'handicraft_seal', 'organic', 'other'));
