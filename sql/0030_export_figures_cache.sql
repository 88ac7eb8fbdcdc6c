-- Issue 18: versions that let each instance cache figures responses, and the contract step of
-- 0027's expand/contract.
--
-- 1. export_figure_versions: a counter per (Gregorian month of export_date, is_oil, quantity
--    unit), bumped by the rollup trigger in the shipment's own transaction whenever a counted
--    shipment changes (cleared, shipped, reverted, corrected, deleted). Its key is that of the
--    Gregorian total rollup row (dims 0) the same trigger already upserts first, so clearances
--    wait on no row they did not already wait on. Row 0 (month 0) covers everything else the
--    figures read (the rebuild, the reference names): every read includes it. A figures request
--    reads the sum over its months and month 0; counters only grow, so an equal sum means nothing
--    it reads has changed. Never a sequence: one can run ahead of what is visible.
-- 2. The contract step: instances of the release before 0027 are gone, so the old rollups, their
--    trigger and index go (the clearance trigger no longer maintains two tables).
--    export_rollups_rebuild() stays as a name (the previous release, still running during the
--    rollout, calls it after an oil-prefix change) and rebuilds the new rollups only.
--
-- Locks: DROP TRIGGER / DROP INDEX and CREATE OR REPLACE take an exclusive lock on
-- export_shipments for a moment (no data is scanned). Waiting for it behind a long reader (an
-- oil-prefix rebuild) would queue every clearance and figures read behind the migration: give up
-- after 5 s instead; the migration rolls back and runs again at the next start.
--
-- (0029 is unused: a search index was measured and not kept. The next migration is 0031.)
SET LOCAL lock_timeout = '5s';

CREATE TABLE export_figure_versions (
  month          integer NOT NULL,
  is_oil         boolean NOT NULL,
  quantity_unit  text NOT NULL,
  version        bigint NOT NULL,
  PRIMARY KEY (month, is_oil, quantity_unit)
);
INSERT INTO export_figure_versions VALUES (0, false, '', 1);

CREATE FUNCTION export_figure_versions_bump_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE export_figure_versions SET version = version + 1 WHERE month = 0;
  RETURN NULL;
END $$;

-- Names the figures join (an officer renames a customs office; reference data loads).
CREATE TRIGGER export_figure_versions_names AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON customs_offices
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();
CREATE TRIGGER export_figure_versions_names AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON provinces
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();
CREATE TRIGGER export_figure_versions_names AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON countries
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();
CREATE TRIGGER export_figure_versions_names AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON categories
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();
CREATE TRIGGER export_figure_versions_names AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hs_codes
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();

-- Emptying the shipments fires no row trigger.
CREATE TRIGGER export_figure_versions_truncate AFTER TRUNCATE ON export_shipments
  FOR EACH STATEMENT EXECUTE FUNCTION export_figure_versions_bump_all();

-- A rebuild (oil prefixes changed, bulk load) changes any figure: bump row 0 with it.
CREATE OR REPLACE FUNCTION export_figure_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE export_shipments IN SHARE MODE;
  DELETE FROM export_figure_rollups;
  INSERT INTO export_figure_rollups SELECT * FROM export_figure_rollups_fresh();
  UPDATE export_figure_versions SET version = version + 1 WHERE month = 0;
END $$;

-- Same as 0027's, plus: nothing to do unless the shipment counts (or counted) before or after; an
-- export_date moved within its months changes no rollup but does change the days the figures read
-- from the shipments at a range's edges, so it bumps too.
CREATE OR REPLACE FUNCTION export_shipments_figure_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was boolean := TG_OP <> 'INSERT' AND OLD.status IN ('cleared', 'shipped');
  now_counted boolean := TG_OP <> 'DELETE' AND NEW.status IN ('cleared', 'shipped');
BEGIN
  IF NOT (was OR now_counted) OR current_setting('bazaarche.bulk_load', true) = 'on' THEN RETURN NULL; END IF;
  IF was AND now_counted AND (OLD.export_date, OLD.jalali_month, OLD.gregorian_month, OLD.is_oil, OLD.province_code,
       OLD.hs_code, OLD.destination_country, OLD.category_code, OLD.customs_office_code, OLD.fob_cents, OLD.net_weight_kg,
       OLD.quantity, OLD.quantity_unit)
     IS NOT DISTINCT FROM (NEW.export_date, NEW.jalali_month, NEW.gregorian_month, NEW.is_oil, NEW.province_code,
       NEW.hs_code, NEW.destination_country, NEW.category_code, NEW.customs_office_code, NEW.fob_cents, NEW.net_weight_kg,
       NEW.quantity, NEW.quantity_unit) THEN
    RETURN NULL;
  END IF;
  INSERT INTO export_figure_rollups AS r
  SELECT cal.calendar, d.dims, CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil,
    CASE WHEN d.dims & 1 > 0 THEN s.province_code ELSE '' END,
    CASE WHEN d.dims & 2 > 0 THEN substr(s.hs_code, 1, 2) WHEN d.dims & 32 > 0 THEN substr(s.hs_code, 1, 4)
         WHEN d.dims & 64 > 0 THEN substr(s.hs_code, 1, 6) ELSE '' END,
    CASE WHEN d.dims & 4 > 0 THEN s.destination_country::text ELSE '' END,
    CASE WHEN d.dims & 8 > 0 THEN coalesce(s.category_code, '') ELSE '' END,
    CASE WHEN d.dims & 16 > 0 THEN s.customs_office_code ELSE '' END,
    coalesce(s.quantity_unit, ''),
    sum(s.sign), sum(s.sign * s.fob_cents), sum(s.sign * s.net_weight_kg), sum(s.sign * coalesce(s.quantity, 0))
  FROM (SELECT -1, OLD.jalali_month, OLD.gregorian_month, OLD.is_oil, OLD.province_code, OLD.hs_code, OLD.destination_country,
          OLD.category_code, OLD.customs_office_code, OLD.quantity_unit, OLD.quantity, OLD.fob_cents, OLD.net_weight_kg WHERE was
        UNION ALL
        SELECT 1, NEW.jalali_month, NEW.gregorian_month, NEW.is_oil, NEW.province_code, NEW.hs_code, NEW.destination_country,
          NEW.category_code, NEW.customs_office_code, NEW.quantity_unit, NEW.quantity, NEW.fob_cents, NEW.net_weight_kg
        WHERE now_counted)
    AS s(sign, jalali_month, gregorian_month, is_oil, province_code, hs_code, destination_country, category_code,
         customs_office_code, quantity_unit, quantity, fob_cents, net_weight_kg)
  CROSS JOIN (VALUES ('gregorian'), ('jalali')) cal(calendar) CROSS JOIN export_figure_rollup_dims d
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
  ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
  ON CONFLICT (calendar, dims, month, is_oil, province_code, hs_code, destination, category_code, customs_office, quantity_unit)
  DO UPDATE SET shipments = r.shipments + EXCLUDED.shipments, fob_cents = r.fob_cents + EXCLUDED.fob_cents,
    net_weight_kg = r.net_weight_kg + EXCLUDED.net_weight_kg, quantity = r.quantity + EXCLUDED.quantity;
  -- After the rollups, in key order: the Gregorian total row above already orders these waits.
  INSERT INTO export_figure_versions AS v (month, is_oil, quantity_unit, version)
  SELECT DISTINCT s.month, s.is_oil, s.unit, 1
  FROM (SELECT OLD.gregorian_month, OLD.is_oil, coalesce(OLD.quantity_unit, '') WHERE was
        UNION ALL
        SELECT NEW.gregorian_month, NEW.is_oil, coalesce(NEW.quantity_unit, '') WHERE now_counted) AS s(month, is_oil, unit)
  ORDER BY 1, 2, 3
  ON CONFLICT (month, is_oil, quantity_unit) DO UPDATE SET version = v.version + 1;
  RETURN NULL;
END $$;

-- The contract step.
DROP TRIGGER export_shipments_rollup ON export_shipments;
DROP FUNCTION export_shipments_rollup();
DROP FUNCTION export_rollups_rebuild();
DROP FUNCTION export_rollups_fresh();
DROP TABLE export_rollups;
DROP TABLE export_rollup_dims;
DROP INDEX export_shipments_counted_idx;

CREATE FUNCTION export_rollups_rebuild() RETURNS void LANGUAGE sql AS $$ SELECT export_figure_rollups_rebuild() $$;
