-- Issue 16: partner companies buy as companies. Each partner account has a role in its company
-- (owner, buyer, viewer). Accounts from before roles existed could do everything, so they become
-- owners: nobody loses a right on upgrade.
ALTER TABLE accounts ADD COLUMN company_role text CHECK (company_role IN ('owner', 'buyer', 'viewer'));
UPDATE accounts SET company_role = 'owner' WHERE role = 'partner';
ALTER TABLE accounts ADD CONSTRAINT accounts_company_role_partner_check CHECK ((role = 'partner') = (company_role IS NOT NULL));
