-- payments_customer_amount (tenant_id, account_code, amount_cents) serves every
-- lookup the older two-column index did.
DROP INDEX IF EXISTS payments_customer;
