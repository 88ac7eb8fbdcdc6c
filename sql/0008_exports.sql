-- Export shipments, the oil classification, and non-oil export figures kept as rollups.

-- The Solar Hijri calendar in SQL: 1 Farvardin (Nowruz) of each year 1300–1500 as a Gregorian date
-- (computed with the 33-year-break arithmetic of Borkowski's algorithm, which matches the
-- official calendar over this range; a test checks it against Foundation's Persian calendar).
-- Months 1–6 have 31 days, 7–11 have 30, Esfand 29 or 30: the next Nowruz decides.
CREATE TABLE solar_hijri_years (
  year      integer PRIMARY KEY,
  starts_on date NOT NULL UNIQUE
);
INSERT INTO solar_hijri_years (year, starts_on) VALUES
  (1300, '1921-03-21'),
  (1301, '1922-03-22'),
  (1302, '1923-03-22'),
  (1303, '1924-03-21'),
  (1304, '1925-03-21'),
  (1305, '1926-03-22'),
  (1306, '1927-03-22'),
  (1307, '1928-03-21'),
  (1308, '1929-03-21'),
  (1309, '1930-03-21'),
  (1310, '1931-03-22'),
  (1311, '1932-03-21'),
  (1312, '1933-03-21'),
  (1313, '1934-03-21'),
  (1314, '1935-03-22'),
  (1315, '1936-03-21'),
  (1316, '1937-03-21'),
  (1317, '1938-03-21'),
  (1318, '1939-03-22'),
  (1319, '1940-03-21'),
  (1320, '1941-03-21'),
  (1321, '1942-03-21'),
  (1322, '1943-03-22'),
  (1323, '1944-03-21'),
  (1324, '1945-03-21'),
  (1325, '1946-03-21'),
  (1326, '1947-03-22'),
  (1327, '1948-03-21'),
  (1328, '1949-03-21'),
  (1329, '1950-03-21'),
  (1330, '1951-03-22'),
  (1331, '1952-03-21'),
  (1332, '1953-03-21'),
  (1333, '1954-03-21'),
  (1334, '1955-03-22'),
  (1335, '1956-03-21'),
  (1336, '1957-03-21'),
  (1337, '1958-03-21'),
  (1338, '1959-03-22'),
  (1339, '1960-03-21'),
  (1340, '1961-03-21'),
  (1341, '1962-03-21'),
  (1342, '1963-03-21'),
  (1343, '1964-03-21'),
  (1344, '1965-03-21'),
  (1345, '1966-03-21'),
  (1346, '1967-03-21'),
  (1347, '1968-03-21'),
  (1348, '1969-03-21'),
  (1349, '1970-03-21'),
  (1350, '1971-03-21'),
  (1351, '1972-03-21'),
  (1352, '1973-03-21'),
  (1353, '1974-03-21'),
  (1354, '1975-03-21'),
  (1355, '1976-03-21'),
  (1356, '1977-03-21'),
  (1357, '1978-03-21'),
  (1358, '1979-03-21'),
  (1359, '1980-03-21'),
  (1360, '1981-03-21'),
  (1361, '1982-03-21'),
  (1362, '1983-03-21'),
  (1363, '1984-03-21'),
  (1364, '1985-03-21'),
  (1365, '1986-03-21'),
  (1366, '1987-03-21'),
  (1367, '1988-03-21'),
  (1368, '1989-03-21'),
  (1369, '1990-03-21'),
  (1370, '1991-03-21'),
  (1371, '1992-03-21'),
  (1372, '1993-03-21'),
  (1373, '1994-03-21'),
  (1374, '1995-03-21'),
  (1375, '1996-03-20'),
  (1376, '1997-03-21'),
  (1377, '1998-03-21'),
  (1378, '1999-03-21'),
  (1379, '2000-03-20'),
  (1380, '2001-03-21'),
  (1381, '2002-03-21'),
  (1382, '2003-03-21'),
  (1383, '2004-03-20'),
  (1384, '2005-03-21'),
  (1385, '2006-03-21'),
  (1386, '2007-03-21'),
  (1387, '2008-03-20'),
  (1388, '2009-03-21'),
  (1389, '2010-03-21'),
  (1390, '2011-03-21'),
  (1391, '2012-03-20'),
  (1392, '2013-03-21'),
  (1393, '2014-03-21'),
  (1394, '2015-03-21'),
  (1395, '2016-03-20'),
  (1396, '2017-03-21'),
  (1397, '2018-03-21'),
  (1398, '2019-03-21'),
  (1399, '2020-03-20'),
  (1400, '2021-03-21'),
  (1401, '2022-03-21'),
  (1402, '2023-03-21'),
  (1403, '2024-03-20'),
  (1404, '2025-03-21'),
  (1405, '2026-03-21'),
  (1406, '2027-03-21'),
  (1407, '2028-03-20'),
  (1408, '2029-03-20'),
  (1409, '2030-03-21'),
  (1410, '2031-03-21'),
  (1411, '2032-03-20'),
  (1412, '2033-03-20'),
  (1413, '2034-03-21'),
  (1414, '2035-03-21'),
  (1415, '2036-03-20'),
  (1416, '2037-03-20'),
  (1417, '2038-03-21'),
  (1418, '2039-03-21'),
  (1419, '2040-03-20'),
  (1420, '2041-03-20'),
  (1421, '2042-03-21'),
  (1422, '2043-03-21'),
  (1423, '2044-03-20'),
  (1424, '2045-03-20'),
  (1425, '2046-03-21'),
  (1426, '2047-03-21'),
  (1427, '2048-03-20'),
  (1428, '2049-03-20'),
  (1429, '2050-03-21'),
  (1430, '2051-03-21'),
  (1431, '2052-03-20'),
  (1432, '2053-03-20'),
  (1433, '2054-03-21'),
  (1434, '2055-03-21'),
  (1435, '2056-03-20'),
  (1436, '2057-03-20'),
  (1437, '2058-03-21'),
  (1438, '2059-03-21'),
  (1439, '2060-03-20'),
  (1440, '2061-03-20'),
  (1441, '2062-03-20'),
  (1442, '2063-03-21'),
  (1443, '2064-03-20'),
  (1444, '2065-03-20'),
  (1445, '2066-03-20'),
  (1446, '2067-03-21'),
  (1447, '2068-03-20'),
  (1448, '2069-03-20'),
  (1449, '2070-03-20'),
  (1450, '2071-03-21'),
  (1451, '2072-03-20'),
  (1452, '2073-03-20'),
  (1453, '2074-03-20'),
  (1454, '2075-03-21'),
  (1455, '2076-03-20'),
  (1456, '2077-03-20'),
  (1457, '2078-03-20'),
  (1458, '2079-03-21'),
  (1459, '2080-03-20'),
  (1460, '2081-03-20'),
  (1461, '2082-03-20'),
  (1462, '2083-03-21'),
  (1463, '2084-03-20'),
  (1464, '2085-03-20'),
  (1465, '2086-03-20'),
  (1466, '2087-03-21'),
  (1467, '2088-03-20'),
  (1468, '2089-03-20'),
  (1469, '2090-03-20'),
  (1470, '2091-03-21'),
  (1471, '2092-03-20'),
  (1472, '2093-03-20'),
  (1473, '2094-03-20'),
  (1474, '2095-03-20'),
  (1475, '2096-03-20'),
  (1476, '2097-03-20'),
  (1477, '2098-03-20'),
  (1478, '2099-03-20'),
  (1479, '2100-03-21'),
  (1480, '2101-03-21'),
  (1481, '2102-03-21'),
  (1482, '2103-03-21'),
  (1483, '2104-03-21'),
  (1484, '2105-03-21'),
  (1485, '2106-03-21'),
  (1486, '2107-03-21'),
  (1487, '2108-03-21'),
  (1488, '2109-03-21'),
  (1489, '2110-03-21'),
  (1490, '2111-03-21'),
  (1491, '2112-03-21'),
  (1492, '2113-03-21'),
  (1493, '2114-03-21'),
  (1494, '2115-03-21'),
  (1495, '2116-03-21'),
  (1496, '2117-03-21'),
  (1497, '2118-03-21'),
  (1498, '2119-03-21'),
  (1499, '2120-03-21'),
  (1500, '2121-03-21');

-- Months are keys yyyymm in either calendar (140507 is Mehr 1405, 202610 October 2026).
CREATE FUNCTION jalali_month(d date) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT y.year * 100 + CASE WHEN d - y.starts_on < 186 THEN (d - y.starts_on) / 31 + 1
                             ELSE (d - y.starts_on - 186) / 30 + 7 END
  FROM solar_hijri_years y WHERE y.starts_on <= d ORDER BY y.starts_on DESC LIMIT 1
$$;

CREATE FUNCTION report_month(calendar text, d date) RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE calendar WHEN 'jalali' THEN jalali_month(d)
                       ELSE (extract(year FROM d) * 100 + extract(month FROM d))::integer END
$$;

CREATE FUNCTION report_month_start(calendar text, month integer) RETURNS date LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE calendar
    WHEN 'jalali' THEN (SELECT y.starts_on + CASE WHEN month % 100 <= 6 THEN (month % 100 - 1) * 31
                                                  ELSE 186 + (month % 100 - 7) * 30 END
                        FROM solar_hijri_years y WHERE y.year = month / 100)
    ELSE make_date(month / 100, month % 100, 1) END
$$;


-- Which HS codes count as oil (a code is oil when it starts with one of the prefixes). One row.
CREATE TABLE export_settings (
  id              boolean PRIMARY KEY DEFAULT true CHECK (id),
  oil_hs_prefixes text[] NOT NULL DEFAULT '{2709}',
  updated_at      timestamptz NOT NULL DEFAULT now(),
  updated_by      bigint REFERENCES accounts(id)
);
INSERT INTO export_settings DEFAULT VALUES;

CREATE FUNCTION is_oil_hs_code(hs_code text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT EXISTS (SELECT 1 FROM export_settings s, unnest(s.oil_hs_prefixes) p WHERE starts_with(hs_code, p))
$$;

CREATE TABLE export_shipments (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  producer_id            bigint NOT NULL REFERENCES producers(id),
  order_id               bigint REFERENCES orders(id),
  product_id             bigint REFERENCES products(id),
  recorded_by            bigint NOT NULL REFERENCES accounts(id),
  recorded_by_partner_id bigint REFERENCES partners(id),          -- the exporter company, when a partner recorded it
  hs_code                text NOT NULL CONSTRAINT export_shipments_hs_code_check CHECK (hs_code ~ '^[0-9]{6,10}$'),
  destination_country    char(2) NOT NULL REFERENCES countries(alpha2)
                         CONSTRAINT export_shipments_destination_country_check CHECK (destination_country <> 'IR'),
  customs_declaration_no text NOT NULL CONSTRAINT export_shipments_customs_declaration_no_key UNIQUE
                         CHECK (length(customs_declaration_no) BETWEEN 1 AND 50),
  fob_cents              bigint NOT NULL CHECK (fob_cents > 0),        -- US cents: exact, never floating point
  net_weight_kg          numeric(15, 3) NOT NULL CHECK (net_weight_kg > 0),
  export_date            date NOT NULL,
  customs_office         text NOT NULL CHECK (length(customs_office) BETWEEN 1 AND 200),
  status                 text NOT NULL DEFAULT 'declared' CHECK (status IN ('declared', 'cleared', 'shipped')),
  -- Derived on insert (export_shipments_derive) so every write path agrees:
  hs_chapter             smallint NOT NULL REFERENCES hs_chapters(chapter),
  province_code          text NOT NULL REFERENCES provinces(code),   -- the producer's
  category_code          text REFERENCES categories(code),          -- the product's top-level category
  is_oil                 boolean NOT NULL,
  jalali_month           integer NOT NULL,
  gregorian_month        integer NOT NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX export_shipments_producer_idx ON export_shipments (producer_id, id);
CREATE INDEX export_shipments_partner_idx ON export_shipments (recorded_by_partner_id, id) WHERE recorded_by_partner_id IS NOT NULL;
CREATE INDEX export_shipments_province_idx ON export_shipments (province_code, id);
-- Figures for partial months at the edges of a range read shipments directly.
CREATE INDEX export_shipments_counted_idx ON export_shipments (export_date)
  INCLUDE (jalali_month, gregorian_month, is_oil, province_code, hs_chapter, destination_country, category_code, fob_cents, net_weight_kg)
  WHERE status IN ('cleared', 'shipped');

CREATE FUNCTION export_shipments_derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (OLD.status, NEW.status) NOT IN (('declared', 'declared'), ('declared', 'cleared'),
      ('cleared', 'cleared'), ('cleared', 'shipped'), ('shipped', 'shipped')) THEN
    RAISE EXCEPTION 'export shipment status cannot move from % to %', OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'export_shipments_status_check';
  END IF;
  -- What a shipment is filed under is fixed when it is recorded (a producer moving province later
  -- does not move its past exports); only a change of the facts themselves re-derives it.
  IF TG_OP = 'UPDATE' AND NEW.hs_code = OLD.hs_code AND NEW.export_date = OLD.export_date
     AND NEW.producer_id = OLD.producer_id AND NEW.product_id IS NOT DISTINCT FROM OLD.product_id THEN
    RETURN NEW;
  END IF;
  NEW.hs_chapter := substr(NEW.hs_code, 1, 2)::smallint;
  NEW.province_code := (SELECT province_code FROM producers WHERE id = NEW.producer_id);
  NEW.category_code := (SELECT coalesce(c.parent_code, c.code) FROM products p JOIN categories c ON c.code = p.category_code
                        WHERE p.id = NEW.product_id);
  NEW.is_oil := is_oil_hs_code(NEW.hs_code);
  NEW.jalali_month := jalali_month(NEW.export_date);
  NEW.gregorian_month := report_month('gregorian', NEW.export_date);
  RETURN NEW;
END $$;
CREATE TRIGGER export_shipments_derive BEFORE INSERT OR UPDATE ON export_shipments
  FOR EACH ROW EXECUTE FUNCTION export_shipments_derive();

-- Figures rollups: cleared and shipped shipments summed per calendar month (in both calendars),
-- oil or not, for every grouping of at most two of the four dimensions. `dims` says which:
-- 1 province, 2 HS chapter, 4 destination, 8 category; unused dimensions hold ''.
CREATE TABLE export_rollups (
  calendar      text NOT NULL CHECK (calendar IN ('jalali', 'gregorian')),
  dims          smallint NOT NULL,
  month         integer NOT NULL,
  is_oil        boolean NOT NULL,
  province_code text NOT NULL,
  hs_chapter    text NOT NULL,
  destination   text NOT NULL,
  category_code text NOT NULL,
  shipments     bigint NOT NULL,
  fob_cents     bigint NOT NULL,
  net_weight_kg numeric NOT NULL,
  PRIMARY KEY (calendar, dims, month, is_oil, province_code, hs_chapter, destination, category_code)
);

CREATE TABLE export_rollup_dims (dims smallint PRIMARY KEY);
INSERT INTO export_rollup_dims VALUES (0), (1), (2), (4), (8), (3), (5), (9), (6), (10), (12);

-- The rollups as a fresh aggregation would give them: the rebuild, and what tests compare with.
CREATE FUNCTION export_rollups_fresh() RETURNS SETOF export_rollups LANGUAGE sql STABLE AS $$
  SELECT cal.calendar,
    (CASE WHEN GROUPING(s.province_code) = 0 THEN 1 ELSE 0 END + CASE WHEN GROUPING(s.hs_chapter) = 0 THEN 2 ELSE 0 END
     + CASE WHEN GROUPING(s.destination_country) = 0 THEN 4 ELSE 0 END + CASE WHEN GROUPING(s.category_code) = 0 THEN 8 ELSE 0 END)::smallint,
    CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil,
    CASE WHEN GROUPING(s.province_code) = 0 THEN s.province_code ELSE '' END,
    CASE WHEN GROUPING(s.hs_chapter) = 0 THEN lpad(s.hs_chapter::text, 2, '0') ELSE '' END,
    CASE WHEN GROUPING(s.destination_country) = 0 THEN s.destination_country::text ELSE '' END,
    CASE WHEN GROUPING(s.category_code) = 0 THEN coalesce(s.category_code, '') ELSE '' END,
    count(*), sum(s.fob_cents), sum(s.net_weight_kg)
  FROM export_shipments s CROSS JOIN (VALUES ('jalali'), ('gregorian')) cal(calendar)
  WHERE s.status IN ('cleared', 'shipped')
  GROUP BY cal.calendar, CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil,
    GROUPING SETS ((), (s.province_code), (s.hs_chapter), (s.destination_country), (s.category_code),
      (s.province_code, s.hs_chapter), (s.province_code, s.destination_country), (s.province_code, s.category_code),
      (s.hs_chapter, s.destination_country), (s.hs_chapter, s.category_code), (s.destination_country, s.category_code))
$$;

-- Rebuilds every rollup (after the oil prefixes change, or a bulk load that skipped the trigger).
-- Writers wait; readers keep the old figures until it commits.
CREATE FUNCTION export_rollups_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  LOCK TABLE export_shipments IN SHARE MODE;
  DELETE FROM export_rollups;
  INSERT INTO export_rollups SELECT * FROM export_rollups_fresh();
END $$;

-- Kept in the shipment's own transaction: a shipment starts counting when cleared. Rows are
-- upserted in key order, so concurrent shipments lock shared rows in the same order.
CREATE FUNCTION export_shipments_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was boolean := TG_OP <> 'INSERT' AND OLD.status IN ('cleared', 'shipped');
  now_counted boolean := TG_OP <> 'DELETE' AND NEW.status IN ('cleared', 'shipped');
BEGIN
  IF current_setting('bazaarche.bulk_load', true) = 'on' THEN RETURN NULL; END IF;
  IF was AND now_counted AND (OLD.jalali_month, OLD.gregorian_month, OLD.is_oil, OLD.province_code, OLD.hs_chapter,
       OLD.destination_country, OLD.category_code, OLD.fob_cents, OLD.net_weight_kg)
     IS NOT DISTINCT FROM (NEW.jalali_month, NEW.gregorian_month, NEW.is_oil, NEW.province_code, NEW.hs_chapter,
       NEW.destination_country, NEW.category_code, NEW.fob_cents, NEW.net_weight_kg) THEN
    RETURN NULL;
  END IF;
  INSERT INTO export_rollups AS r
  SELECT cal.calendar, d.dims, CASE cal.calendar WHEN 'jalali' THEN s.jalali_month ELSE s.gregorian_month END, s.is_oil,
    CASE WHEN d.dims & 1 > 0 THEN s.province_code ELSE '' END,
    CASE WHEN d.dims & 2 > 0 THEN lpad(s.hs_chapter::text, 2, '0') ELSE '' END,
    CASE WHEN d.dims & 4 > 0 THEN s.destination_country::text ELSE '' END,
    CASE WHEN d.dims & 8 > 0 THEN coalesce(s.category_code, '') ELSE '' END,
    sum(s.sign), sum(s.sign * s.fob_cents), sum(s.sign * s.net_weight_kg)
  FROM (SELECT -1, OLD.jalali_month, OLD.gregorian_month, OLD.is_oil, OLD.province_code, OLD.hs_chapter, OLD.destination_country, OLD.category_code, OLD.fob_cents, OLD.net_weight_kg WHERE was
        UNION ALL
        SELECT 1, NEW.jalali_month, NEW.gregorian_month, NEW.is_oil, NEW.province_code, NEW.hs_chapter, NEW.destination_country, NEW.category_code, NEW.fob_cents, NEW.net_weight_kg WHERE now_counted)
    AS s(sign, jalali_month, gregorian_month, is_oil, province_code, hs_chapter, destination_country, category_code, fob_cents, net_weight_kg)
  CROSS JOIN (VALUES ('gregorian'), ('jalali')) cal(calendar) CROSS JOIN export_rollup_dims d
  GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
  ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
  ON CONFLICT (calendar, dims, month, is_oil, province_code, hs_chapter, destination, category_code) DO UPDATE
    SET shipments = r.shipments + EXCLUDED.shipments, fob_cents = r.fob_cents + EXCLUDED.fob_cents,
        net_weight_kg = r.net_weight_kg + EXCLUDED.net_weight_kg;
  RETURN NULL;
END $$;
CREATE TRIGGER export_shipments_rollup AFTER INSERT OR UPDATE OR DELETE ON export_shipments
  FOR EACH ROW EXECUTE FUNCTION export_shipments_rollup();
