-- Issue 17: figures at any HS level (2, 4, 6 digits), by customs office, with quantities.
--
-- Expand step of expand/contract: the wider rollups live in a NEW table, `export_figure_rollups`,
-- with their own trigger, rebuild and index, beside the old `export_rollups` (0008), its trigger
-- `export_shipments_rollup` and `export_shipments_counted_idx`, which stay exactly as they were:
-- during a rolling upgrade the previous release keeps reading and maintaining them. A later
-- release drops them (the contract step; docs/operations.md).
--
-- The new rollups keep the scheme of 0008 (per month in both calendars, oil or not, every
-- grouping of at most two dimensions) with three more dimensions and the quantity. `dims` bits:
--   1 province, 2 HS chapter (hs2), 4 destination, 8 category, 16 customs office, 32 HS heading
--   (hs4), 64 HS subheading (hs6). The HS levels never pair with each other (hs4 holds hs2), so
--   there are 26 groupings: (), 7 single ones, 6 pairs of the four others, 12 pairs of an HS level
--   with one of them. `hs_code` holds the code at the level the bits name ('' when none).
-- Quantities are summed per supplementary unit: `quantity_unit` is part of the key ('' for
-- shipments recorded without a quantity), so a group whose rows share one unit has its sum.
--
-- Locks: CREATE TRIGGER and CREATE INDEX take a lock on export_shipments that lets reads through
-- but makes shipment writes wait until this migration commits (the fill runs under it, so no
-- shipment slips between the fill and the trigger). Figures keep answering from export_rollups.

-- The quantity columns (export_shipments.quantity, quantity_unit) and hs_codes.title_fa come from
-- sql/0026_hs_nomenclature.sql.

CREATE TABLE export_figure_rollups (
  calendar       text NOT NULL CHECK (calendar IN ('jalali', 'gregorian')),
  dims           smallint NOT NULL,
  month          integer NOT NULL,
  is_oil         boolean NOT NULL,
  province_code  text NOT NULL,
  hs_code        text NOT NULL,
  destination    text NOT NULL,
  category_code  text NOT NULL,
  customs_office text NOT NULL,
  quantity_unit  text NOT NULL,
  shipments      bigint NOT NULL,
  fob_cents      numeric NOT NULL,
  net_weight_kg  numeric NOT NULL,
  quantity       numeric NOT NULL,
  PRIMARY KEY (calendar, dims, month, is_oil, province_code, hs_code, destination, category_code, customs_office, quantity_unit)
);

CREATE TABLE export_figure_rollup_dims (dims smallint PRIMARY KEY);
INSERT INTO export_figure_rollup_dims VALUES
  (0), (1), (2), (4), (8), (16), (32), (64),
  (5), (9), (17), (12), (20), (24),
  (3), (6), (10), (18), (33), (36), (40), (48), (65), (68), (72), (80);

-- The rollups as a fresh aggregation would give them: the rebuild, and what tests compare with.
CREATE FUNCTION export_figure_rollups_fresh() RETURNS SETOF export_figure_rollups LANGUAGE sql STABLE AS $$
  SELECT cal.calendar,
    (CASE WHEN GROUPING(s.province_code) = 0 THEN 1 ELSE 0 END + CASE WHEN GROUPING(s.hs2) = 0 THEN 2 ELSE 0 END
     + CASE WHEN GROUPING(s.destination) = 0 THEN 4 ELSE 0 END + CASE WHEN GROUPING(s.category_code) = 0 THEN 8 ELSE 0 END
     + CASE WHEN GROUPING(s.office) = 0 THEN 16 ELSE 0 END + CASE WHEN GROUPING(s.hs4) = 0 THEN 32 ELSE 0 END
     + CASE WHEN GROUPING(s.hs6) = 0 THEN 64 ELSE 0 END)::smallint,
    CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil,
    CASE WHEN GROUPING(s.province_code) = 0 THEN s.province_code ELSE '' END,
    CASE WHEN GROUPING(s.hs2) = 0 THEN s.hs2 WHEN GROUPING(s.hs4) = 0 THEN s.hs4 WHEN GROUPING(s.hs6) = 0 THEN s.hs6 ELSE '' END,
    CASE WHEN GROUPING(s.destination) = 0 THEN s.destination ELSE '' END,
    CASE WHEN GROUPING(s.category_code) = 0 THEN s.category_code ELSE '' END,
    CASE WHEN GROUPING(s.office) = 0 THEN s.office ELSE '' END,
    s.unit, count(*), sum(s.fob_cents), sum(s.net_weight_kg), sum(s.quantity)
  FROM (SELECT jalali_month, gregorian_month, is_oil, province_code, substr(hs_code, 1, 2) AS hs2, substr(hs_code, 1, 4) AS hs4,
          substr(hs_code, 1, 6) AS hs6, destination_country::text AS destination, coalesce(category_code, '') AS category_code,
          customs_office_code AS office, coalesce(quantity_unit, '') AS unit, coalesce(quantity, 0) AS quantity, fob_cents,
          net_weight_kg
        FROM export_shipments WHERE status IN ('cleared', 'shipped')) s
  CROSS JOIN (VALUES ('jalali'), ('gregorian')) cal(calendar)
  GROUP BY cal.calendar, CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil, s.unit,
    GROUPING SETS ((), (s.province_code), (s.hs2), (s.destination), (s.category_code), (s.office), (s.hs4), (s.hs6),
      (s.province_code, s.destination), (s.province_code, s.category_code), (s.province_code, s.office),
      (s.destination, s.category_code), (s.destination, s.office), (s.category_code, s.office),
      (s.province_code, s.hs2), (s.hs2, s.destination), (s.hs2, s.category_code), (s.hs2, s.office),
      (s.province_code, s.hs4), (s.hs4, s.destination), (s.hs4, s.category_code), (s.hs4, s.office),
      (s.province_code, s.hs6), (s.hs6, s.destination), (s.hs6, s.category_code), (s.hs6, s.office))
$$;

-- Rebuilds the new rollups (after the oil prefixes change, or a bulk load that skipped the
-- triggers). Writers wait; readers keep the old figures until it commits.
CREATE FUNCTION export_figure_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE export_shipments IN SHARE MODE;
  DELETE FROM export_figure_rollups;
  INSERT INTO export_figure_rollups SELECT * FROM export_figure_rollups_fresh();
END $$;

-- What both releases call after the oil prefixes change (and the data set loader after a bulk
-- load): while both tables exist it rebuilds both, so an instance of either release answers
-- correctly. The contract release drops this and calls export_figure_rollups_rebuild().
CREATE OR REPLACE FUNCTION export_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE export_shipments IN SHARE MODE;
  DELETE FROM export_rollups;
  INSERT INTO export_rollups SELECT * FROM export_rollups_fresh();
  PERFORM export_figure_rollups_rebuild();
END $$;

-- Kept in the shipment's own transaction: a shipment starts counting when cleared. Rows are
-- upserted in key order, so concurrent shipments lock shared rows in the same order.
CREATE FUNCTION export_shipments_figure_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was boolean := TG_OP <> 'INSERT' AND OLD.status IN ('cleared', 'shipped');
  now_counted boolean := TG_OP <> 'DELETE' AND NEW.status IN ('cleared', 'shipped');
BEGIN
  IF current_setting('bazaarche.bulk_load', true) = 'on' THEN RETURN NULL; END IF;
  IF was AND now_counted AND (OLD.jalali_month, OLD.gregorian_month, OLD.is_oil, OLD.province_code, OLD.hs_code,
       OLD.destination_country, OLD.category_code, OLD.customs_office_code, OLD.fob_cents, OLD.net_weight_kg,
       OLD.quantity, OLD.quantity_unit)
     IS NOT DISTINCT FROM (NEW.jalali_month, NEW.gregorian_month, NEW.is_oil, NEW.province_code, NEW.hs_code,
       NEW.destination_country, NEW.category_code, NEW.customs_office_code, NEW.fob_cents, NEW.net_weight_kg,
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
  RETURN NULL;
END $$;

CREATE TRIGGER export_shipments_figure_rollup AFTER INSERT OR UPDATE OR DELETE ON export_shipments
  FOR EACH ROW EXECUTE FUNCTION export_shipments_figure_rollup();

-- Days of partial months at the edges of a range (and groupings the rollups do not hold) read the
-- counted shipments through this index, which covers the HS code, office and quantity too. The old
-- export_shipments_counted_idx stays for the previous release until the contract step.
CREATE INDEX export_shipments_figures_idx ON export_shipments (export_date)
  INCLUDE (jalali_month, gregorian_month, is_oil, province_code, hs_code, destination_country, category_code,
           customs_office_code, quantity_unit, quantity, fob_cents, net_weight_kg)
  WHERE status IN ('cleared', 'shipped');

INSERT INTO export_figure_rollups SELECT * FROM export_figure_rollups_fresh();
