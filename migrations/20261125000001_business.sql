-- The ISP's business data that the core plugins read through named queries.
-- Portable SQL: the same file runs on SQLite and PostgreSQL. Every table is
-- keyed by tenant; money is in integer cents; dates are ISO-8601 text.

CREATE TABLE customers (
    tenant_id     BIGINT NOT NULL,
    account_code  TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    email         TEXT,
    phone         TEXT,
    plan_code     TEXT,
    region        TEXT,
    status        TEXT   NOT NULL DEFAULT 'active',
    created_on    TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, account_code)
);
CREATE INDEX customers_name ON customers (tenant_id, name);

CREATE TABLE plans (
    tenant_id      BIGINT NOT NULL,
    plan_code      TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    download_mbps  BIGINT NOT NULL,
    upload_mbps    BIGINT NOT NULL,
    monthly_cents  BIGINT NOT NULL,
    data_cap_gb    BIGINT,
    PRIMARY KEY (tenant_id, plan_code)
);

CREATE TABLE invoices (
    tenant_id     BIGINT NOT NULL,
    invoice_id    TEXT   NOT NULL,
    account_code  TEXT   NOT NULL,
    amount_cents  BIGINT NOT NULL,
    status        TEXT   NOT NULL,
    issued_on     TEXT   NOT NULL,
    due_on        TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
);
CREATE INDEX invoices_customer ON invoices (tenant_id, account_code);

CREATE TABLE payments (
    tenant_id     BIGINT NOT NULL,
    payment_id    TEXT   NOT NULL,
    account_code  TEXT   NOT NULL,
    invoice_id    TEXT,
    amount_cents  BIGINT NOT NULL,
    paid_on       TEXT   NOT NULL,
    method        TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, payment_id)
);
CREATE INDEX payments_customer ON payments (tenant_id, account_code);

CREATE TABLE tickets (
    tenant_id     BIGINT NOT NULL,
    ticket_id     TEXT   NOT NULL,
    account_code  TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    priority      TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    created_at    TEXT   NOT NULL,
    created_by    TEXT,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX tickets_customer ON tickets (tenant_id, account_code);

CREATE TABLE devices (
    tenant_id     BIGINT NOT NULL,
    device_id     TEXT   NOT NULL,
    account_code  TEXT,
    kind          TEXT   NOT NULL,
    region        TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    last_seen     TEXT   NOT NULL,
    PRIMARY KEY (tenant_id, device_id)
);
CREATE INDEX devices_customer ON devices (tenant_id, account_code);

CREATE TABLE outages (
    tenant_id           BIGINT NOT NULL,
    outage_id           TEXT   NOT NULL,
    region              TEXT   NOT NULL,
    status              TEXT   NOT NULL,
    severity            TEXT   NOT NULL,
    description         TEXT   NOT NULL,
    started_at          TEXT   NOT NULL,
    resolved_at         TEXT,
    affected_customers  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, outage_id)
);

CREATE TABLE usage_records (
    tenant_id     BIGINT NOT NULL,
    account_code  TEXT   NOT NULL,
    month         TEXT   NOT NULL,
    download_gb   DOUBLE PRECISION NOT NULL,
    upload_gb     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (tenant_id, account_code, month)
);
