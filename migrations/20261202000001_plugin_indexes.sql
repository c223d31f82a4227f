-- Indexes for the core plugins' named queries: payments by invoice, and
-- covering indexes for the per-customer, per-period and per-status
-- aggregates (top customers, revenue, outstanding and overdue totals), so
-- they read an index instead of visiting every row of the table.
CREATE INDEX payments_invoice ON payments (tenant_id, invoice_id, paid_on);
CREATE INDEX payments_customer_amount ON payments (tenant_id, account_code, amount_cents);
CREATE INDEX payments_paid_on ON payments (tenant_id, paid_on, account_code, amount_cents);
CREATE INDEX invoices_status ON invoices (tenant_id, status, account_code, amount_cents);
