-- Issue 16: partner companies buy as companies. Each partner account has a role in its company
-- (owner, buyer, viewer). Accounts from before roles existed could do everything, so they become
-- owners: nobody loses a right on upgrade.
ALTER TABLE accounts ADD COLUMN company_role text CHECK (company_role IN ('owner', 'buyer', 'viewer'));
-- Partner accounts from before companies existed may have no company (the NOT VALID check of
-- 0005, decision 16). An UPDATE re-checks every constraint on the rows it writes, so the backfill
-- lifts that check and puts it back as it was: NOT VALID, still holding for every new write.
ALTER TABLE accounts DROP CONSTRAINT accounts_partner_id_check;
-- A company owner may disable and re-enable its company's accounts, but never undo the
-- platform's own disable (an admin's, `platform_disabled`). Before companies only staff disabled
-- accounts, so every account disabled so far was disabled by the platform.
ALTER TABLE accounts ADD COLUMN platform_disabled boolean NOT NULL DEFAULT false;
UPDATE accounts SET company_role = CASE WHEN role = 'partner' THEN 'owner' END, platform_disabled = disabled
WHERE role = 'partner' OR disabled;
ALTER TABLE accounts ADD CONSTRAINT accounts_partner_id_check CHECK ((role = 'partner') = (partner_id IS NOT NULL)) NOT VALID;
ALTER TABLE accounts ADD CONSTRAINT accounts_company_role_partner_check CHECK ((role = 'partner') = (company_role IS NOT NULL));

-- An order belongs to the buying company, not only to the account that placed it: every account
-- of the company sees it (by role). Backfilled from the placing account's company. Partner
-- accounts from before companies existed (decision 16) may have none: their orders keep a NULL
-- company and stay reachable by that account alone until an admin binds it to a company.
ALTER TABLE orders ADD COLUMN partner_id bigint REFERENCES partners(id);
UPDATE orders o SET partner_id = a.partner_id FROM accounts a WHERE a.id = o.partner_account_id;
CREATE INDEX orders_company_idx ON orders (partner_id, id);

-- Placement names the company itself; any other insert (imports, data loads) gets the placing
-- account's company, so the two never disagree.
CREATE FUNCTION orders_company() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.partner_id IS NULL THEN
    SELECT a.partner_id INTO NEW.partner_id FROM accounts a WHERE a.id = NEW.partner_account_id;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER orders_company BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION orders_company();
