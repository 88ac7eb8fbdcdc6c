-- Issue 14, programme phase 0: the taxonomy of home-business activities (each mapped to a product
-- category), producers' and applications' activities, and province studies (needs, comparative
-- advantage and capacity per activity) entered by the implementer and approved by the supervisor.
-- Demands may ask matching to favour producers whose province's approved study prioritises the
-- product's activity.

CREATE TABLE activities (
  id            bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the audit trail's entity id
  code          text PRIMARY KEY
                CHECK (code ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(code) <= 64),
  category_code text NOT NULL REFERENCES categories(code),
  name_fa       text NOT NULL CHECK (length(name_fa) BETWEEN 1 AND 200),
  name_en       text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
  active        boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX activities_category_idx ON activities (category_code);

-- Activities people run from home, each under the closest category of 0002's product taxonomy.
INSERT INTO activities (code, category_code, name_fa, name_en) VALUES
  ('food.pastry', 'food.confectionery', 'شیرینی‌پزی سنتی', 'Pastry and traditional confectionery'),
  ('food.baking', 'food.bakery', 'نان و کیک‌پزی', 'Bread and cake baking'),
  ('food.pickles', 'food.pickles_preserves', 'ترشی و شورانداختن', 'Pickles and preserves'),
  ('food.jams_syrups', 'food.jams_syrups', 'مربا و شربت‌سازی', 'Jams and syrups'),
  ('food.molasses_pastes', 'food.molasses_pastes', 'شیره و رب‌گیری', 'Molasses and fruit pastes'),
  ('food.lavashak', 'food.fruit_leather', 'لواشک و آلوچه', 'Fruit leather (lavashak)'),
  ('food.dried_fruit_nuts', 'food.dried_fruits_nuts', 'خشکبار و آجیل', 'Dried fruit and nuts'),
  ('food.spices', 'food.spices', 'ادویه و چاشنی', 'Spices and seasonings'),
  ('food.honey', 'food.honey', 'زنبورداری و عسل', 'Beekeeping and honey'),
  ('food.reshteh', 'food.reshteh_flour', 'رشته‌بری', 'Reshteh noodle making'),
  ('food.dried_herbs', 'food.dried_herbs_vegetables', 'سبزی خشک', 'Dried herbs and vegetables'),
  ('food.edible_oils', 'food.edible_oils', 'روغن‌کشی', 'Edible oil pressing'),
  ('food.home_cooking', 'food.ready_meals', 'آشپزی خانگی', 'Home cooking'),
  ('dairy.cheese_yogurt', 'dairy', 'لبنیات محلی (ماست و پنیر)', 'Local dairy (yogurt and cheese)'),
  ('dairy.kashk', 'dairy.kashk', 'کشک‌سازی', 'Kashk making'),
  ('dairy.butter_ghee', 'dairy.butter_ghee', 'کره و روغن حیوانی', 'Butter and ghee'),
  ('herbal.saffron', 'herbal.saffron', 'فراوری و بسته‌بندی زعفران', 'Saffron processing'),
  ('herbal.distillates', 'herbal.distillates', 'عرق‌گیری (عرقیات گیاهی)', 'Herbal distillates (aragh)'),
  ('herbal.rosewater', 'herbal.rosewater', 'گلاب‌گیری', 'Rosewater distilling'),
  ('herbal.teas', 'herbal.herbal_teas', 'دمنوش گیاهی', 'Herbal teas'),
  ('herbal.medicinal', 'herbal.medicinal_herbs', 'گیاهان دارویی', 'Medicinal herbs'),
  ('herbal.essential_oils', 'herbal.herbal_oils', 'اسانس و روغن‌های گیاهی', 'Essential and herbal oils'),
  ('carpets.hand_woven', 'carpets.hand_woven_carpet', 'قالی‌بافی', 'Hand-woven carpet weaving'),
  ('carpets.kilim', 'carpets.kilim', 'گلیم‌بافی', 'Kilim weaving'),
  ('carpets.gabbeh', 'carpets.gabbeh', 'گبه‌بافی', 'Gabbeh weaving'),
  ('carpets.jajim', 'carpets.jajim', 'جاجیم‌بافی', 'Jajim weaving'),
  ('carpets.pictorial', 'carpets.pictorial_carpet', 'تابلوفرش‌بافی', 'Pictorial carpet weaving'),
  ('textiles.embroidery', 'textiles.embroidery', 'سوزن‌دوزی', 'Embroidery'),
  ('textiles.pateh', 'textiles.embroidery', 'پته‌دوزی', 'Pateh embroidery'),
  ('textiles.baluch_embroidery', 'textiles.embroidery', 'سوزن‌دوزی بلوچ', 'Baluch needlework'),
  ('textiles.termeh', 'textiles.termeh', 'ترمه‌بافی', 'Termeh weaving'),
  ('textiles.hand_weaving', 'textiles.hand_woven_fabric', 'پارچه‌بافی دستی', 'Hand weaving of fabric'),
  ('textiles.tailoring', 'textiles.tailored_clothing', 'خیاطی', 'Tailoring'),
  ('textiles.traditional_clothing', 'textiles.traditional_clothing', 'دوخت لباس محلی', 'Traditional clothing'),
  ('textiles.knitting', 'textiles.knitwear', 'بافتنی', 'Knitting'),
  ('textiles.crochet', 'textiles.crochet', 'قلاب‌بافی', 'Crochet'),
  ('handicrafts.ghalamkar', 'handicrafts.ghalamkar', 'قلمکارسازی', 'Ghalamkar block printing'),
  ('handicrafts.khatam', 'handicrafts.khatam', 'خاتم‌کاری', 'Khatam marquetry'),
  ('handicrafts.minakari', 'handicrafts.minakari', 'میناکاری', 'Minakari enamelwork'),
  ('handicrafts.metalwork', 'handicrafts.metalwork', 'قلم‌زنی', 'Metal engraving (ghalamzani)'),
  ('handicrafts.felt', 'handicrafts.felt', 'نمدمالی', 'Felt making'),
  ('handicrafts.giveh', 'handicrafts.giveh', 'گیوه‌بافی', 'Giveh making'),
  ('leather.goods', 'leather', 'چرم‌دوزی', 'Leather goods'),
  ('pottery.pottery', 'pottery.earthenware', 'سفالگری', 'Pottery'),
  ('pottery.ceramics', 'pottery.ceramics', 'سرامیک‌سازی', 'Ceramics'),
  ('woodwork.monabat', 'woodwork.monabat', 'منبت‌کاری', 'Wood carving (monabat)'),
  ('woodwork.moarragh', 'woodwork.moarragh', 'معرق‌کاری', 'Wood mosaic (moarragh)'),
  ('woodwork.kitchenware', 'woodwork.kitchenware', 'ساخت ظروف چوبی', 'Wooden kitchenware'),
  ('jewellery.silver', 'jewellery.silver', 'ساخت زیورآلات نقره', 'Silver jewellery'),
  ('jewellery.handmade', 'jewellery.handmade', 'بدلیجات دست‌ساز', 'Handmade fashion jewellery'),
  ('cosmetics.soap', 'cosmetics.soap', 'صابون‌سازی', 'Soap making'),
  ('cosmetics.natural', 'cosmetics.skin_care', 'آرایشی و بهداشتی طبیعی', 'Natural cosmetics'),
  ('cosmetics.henna', 'cosmetics.henna', 'حنا و رنگ‌های گیاهی', 'Henna and herbal dyes'),
  ('toys_dolls.dolls', 'toys_dolls.dolls', 'عروسک‌سازی', 'Doll making'),
  ('toys_dolls.wooden_toys', 'toys_dolls.wooden_toys', 'اسباب‌بازی چوبی', 'Wooden toys'),
  ('basketry.baskets', 'basketry.baskets', 'سبدبافی', 'Basket weaving'),
  ('basketry.mats', 'basketry.mats', 'حصیربافی', 'Mat weaving'),
  ('art.calligraphy', 'art.calligraphy', 'خوشنویسی', 'Calligraphy'),
  ('art.miniature', 'art.miniature', 'نگارگری', 'Persian miniature'),
  ('candles.candles', 'candles', 'شمع‌سازی', 'Candle making');

-- A producer's activities (the taxonomy's codes; free-text skills stay beside them as a note).
ALTER TABLE producers ADD COLUMN activity_codes text[] NOT NULL DEFAULT '{}'
  CONSTRAINT producers_activity_codes_check CHECK (cardinality(activity_codes) <= 10);
ALTER TABLE application_requests ADD COLUMN activity_codes text[] NOT NULL DEFAULT '{}';

-- Existing producers: a skill written exactly as an activity's name (Persian or English, ignoring
-- case and surrounding spaces) is that activity. Nothing else can be mapped with confidence;
-- the free-text skills are kept as they are.
UPDATE producers p SET activity_codes = m.codes
FROM (
  SELECT p2.id, array_agg(DISTINCT a.code ORDER BY a.code) AS codes
  FROM producers p2 CROSS JOIN LATERAL unnest(p2.skills) s(skill)
  JOIN activities a ON lower(btrim(s.skill)) IN (lower(a.name_fa), lower(a.name_en))
  GROUP BY p2.id
) m
WHERE m.id = p.id AND cardinality(m.codes) <= 10;

-- Province studies: per province and Solar Hijri year; a new version of the same year replaces an
-- approved one (approved studies are frozen). At most one draft per province and year.
CREATE TABLE province_studies (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  province_code text NOT NULL REFERENCES provinces(code),
  study_year    integer NOT NULL CHECK (study_year BETWEEN 1390 AND 1500),
  version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  source        text NOT NULL CHECK (length(source) BETWEEN 1 AND 500),
  studied_on    date NOT NULL,
  notes         text CHECK (length(notes) <= 4000),
  status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'approved')),
  entered_by    bigint NOT NULL REFERENCES accounts(id),
  -- Everyone who changed the rows since (an admin may edit another's draft).
  editors       bigint[] NOT NULL DEFAULT '{}',
  approved_by   bigint REFERENCES accounts(id),
  approved_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT province_studies_version_key UNIQUE (province_code, study_year, version),
  CONSTRAINT province_studies_approval_check
    CHECK ((status = 'approved') = (approved_by IS NOT NULL AND approved_at IS NOT NULL)),
  -- Four eyes: no account that entered or edited a study approves it.
  CONSTRAINT province_studies_four_eyes_check
    CHECK (approved_by IS NULL OR (approved_by <> entered_by AND approved_by <> ALL (editors)))
);
CREATE UNIQUE INDEX province_studies_one_draft_idx ON province_studies (province_code, study_year)
  WHERE status = 'draft';
CREATE INDEX province_studies_current_idx ON province_studies (province_code, study_year DESC, version DESC)
  WHERE status = 'approved';

-- Scores are whole numbers from 0 to 100; capacity in the activity's usual unit, which the notes
-- may state (docs/programme.md).
CREATE TABLE province_study_rows (
  study_id             bigint NOT NULL REFERENCES province_studies(id) ON DELETE CASCADE,
  activity_code        text NOT NULL REFERENCES activities(code),
  need_score           smallint NOT NULL CHECK (need_score BETWEEN 0 AND 100),
  advantage_score      smallint NOT NULL CHECK (advantage_score BETWEEN 0 AND 100),
  capacity_producers   integer NOT NULL CHECK (capacity_producers BETWEEN 0 AND 10000000),
  capacity_units_month bigint NOT NULL CHECK (capacity_units_month BETWEEN 0 AND 1000000000000),
  priority             boolean NOT NULL DEFAULT false,
  notes                text CHECK (length(notes) <= 1000),
  PRIMARY KEY (study_id, activity_code)
);
CREATE INDEX province_study_rows_priority_idx ON province_study_rows (activity_code) WHERE priority;

-- An approved study and its rows are frozen, whatever code path tries (the API checks first for
-- a precise message; this is the last guard).
CREATE FUNCTION province_studies_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'province_studies' THEN
    IF OLD.status = 'approved' THEN
      RAISE EXCEPTION 'an approved province study cannot change'
        USING ERRCODE = 'check_violation', CONSTRAINT = 'province_studies_status_check';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF EXISTS (SELECT 1 FROM province_studies s
             WHERE s.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.study_id ELSE NEW.study_id END
               AND s.status = 'approved') THEN
    RAISE EXCEPTION 'the rows of an approved province study cannot change'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'province_studies_status_check';
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER province_studies_frozen BEFORE UPDATE OR DELETE ON province_studies
  FOR EACH ROW EXECUTE FUNCTION province_studies_frozen();
CREATE TRIGGER province_study_rows_frozen BEFORE INSERT OR UPDATE OR DELETE ON province_study_rows
  FOR EACH ROW EXECUTE FUNCTION province_studies_frozen();

-- Each province's study in force: its latest approved one (latest year, then latest version).
CREATE VIEW province_current_studies AS
  SELECT DISTINCT ON (s.province_code) s.id, s.province_code, s.study_year, s.version
  FROM province_studies s WHERE s.status = 'approved'
  ORDER BY s.province_code, s.study_year DESC, s.version DESC;

-- Matching: a demand may favour producers whose province prioritises the product's activity.
ALTER TABLE demands ADD COLUMN prefer_priority_activities boolean NOT NULL DEFAULT false;
