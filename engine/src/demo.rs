//! Demo data: two tenants of a realistic small ISP, enough for every
//! catalogue intent to answer with something real. Deterministic (a seeded
//! generator), with dates relative to today so "last month" has data.
//!
//! Fixed points the documentation and tests rely on: in tenant 1, customer
//! `ABC123` (John Smith) has invoice `INV-2025-001` of 99.99, `paid`, dated
//! 2025-02-01; there are two customers named John Smith (ABC123 and
//! DEF456); tenant 2 reuses the account codes ABC123 and KLM204 for other
//! customers with other data.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use sqlx::{Any, Transaction};

use crate::store::{Db, StoreError};

/// What seeding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedOutcome {
    /// Data was written: customers per tenant.
    Seeded {
        /// Customers written, tenant 1 and tenant 2.
        customers: (usize, usize),
    },
    /// Tenant 1 already had customers; nothing was written.
    AlreadyPresent {
        /// Customers found in tenant 1.
        customers: i64,
    },
}

struct Plan {
    code: &'static str,
    name: &'static str,
    down: i64,
    up: i64,
    cents: i64,
    cap: Option<i64>,
}

const PLANS: [Plan; 5] = [
    Plan {
        code: "BASIC50",
        name: "Basic 50",
        down: 50,
        up: 10,
        cents: 2999,
        cap: Some(200),
    },
    Plan {
        code: "FIBER300",
        name: "Fiber 300",
        down: 300,
        up: 50,
        cents: 4999,
        cap: None,
    },
    Plan {
        code: "FIBER500",
        name: "Fiber 500",
        down: 500,
        up: 100,
        cents: 9999,
        cap: None,
    },
    Plan {
        code: "GIGA1000",
        name: "Giga 1000",
        down: 1000,
        up: 200,
        cents: 12999,
        cap: None,
    },
    Plan {
        code: "BIZ1000",
        name: "Business 1000",
        down: 1000,
        up: 500,
        cents: 24999,
        cap: None,
    },
];

/// (code, name, plan, region, status)
type CustomerSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const TENANT1: [CustomerSpec; 24] = [
    ("ABC123", "John Smith", "FIBER500", "north", "active"),
    ("KLM204", "Garcia Logistics", "BIZ1000", "east", "active"),
    ("ZTR991", "Chen Wei", "FIBER300", "south", "active"),
    ("QWE555", "Maria Garcia", "BASIC50", "west", "active"),
    ("PLO321", "Aisha Patel", "GIGA1000", "central", "active"),
    ("DEF456", "John Smith", "BASIC50", "south", "active"),
    ("MNB778", "Oduya Bakery", "FIBER300", "north", "active"),
    ("HJK310", "Lena Novak", "FIBER500", "east", "active"),
    (
        "XYZ900",
        "Northwind Traders",
        "BIZ1000",
        "central",
        "active",
    ),
    ("RTY402", "Tom Becker", "BASIC50", "north", "suspended"),
    ("UIO118", "Priya Raman", "GIGA1000", "west", "active"),
    ("GHJ607", "Carlos Mendes", "FIBER300", "south", "active"),
    (
        "VBN233",
        "Harbor Dental Clinic",
        "BIZ1000",
        "east",
        "active",
    ),
    ("ASD845", "Emma Walsh", "FIBER500", "west", "active"),
    ("FGH512", "Yusuf Demir", "BASIC50", "central", "active"),
    ("JKL029", "Sofia Rossi", "FIBER300", "north", "active"),
    ("ZXC771", "Blue Fern Cafe", "FIBER500", "south", "active"),
    ("WER366", "Daniel Kim", "GIGA1000", "east", "active"),
    ("TYU484", "Grace Okafor", "BASIC50", "west", "active"),
    ("CVB157", "Lukas Schmidt", "FIBER300", "central", "active"),
    ("QAZ690", "Patel Hardware", "BIZ1000", "north", "active"),
    ("EDC248", "Nora Lindqvist", "FIBER500", "south", "active"),
    ("RFV813", "Ahmed Hassan", "BASIC50", "east", "active"),
    ("TGB392", "Isabel Ortiz", "GIGA1000", "west", "active"),
];

const TENANT2: [CustomerSpec; 8] = [
    ("ABC123", "Olivia Brown", "BASIC50", "west", "active"),
    ("KLM204", "Nordic Freight", "BIZ1000", "north", "active"),
    ("PQR101", "Samuel Adeyemi", "FIBER300", "south", "active"),
    ("STU202", "Hana Sato", "FIBER500", "east", "active"),
    ("VWX303", "Marta Kowalski", "GIGA1000", "central", "active"),
    ("YZA404", "Riverside School", "BIZ1000", "west", "active"),
    ("BCD505", "Ethan Clarke", "BASIC50", "north", "active"),
    ("EFG606", "Lina Haddad", "FIBER300", "south", "active"),
];

/// Customers whose recent invoices are overdue.
const LATE_PAYERS: [&str; 6] = ["QWE555", "RTY402", "GHJ607", "VBN233", "FGH512", "STU202"];

/// A small deterministic generator.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
}

async fn exec(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    values: Vec<Val>,
) -> Result<(), sqlx::Error> {
    let mut q = sqlx::query(sql);
    for v in values {
        q = match v {
            Val::I(i) => q.bind(i),
            Val::F(f) => q.bind(f),
            Val::T(t) => q.bind(t),
            Val::N => q.bind(Option::<String>::None),
        };
    }
    q.execute(&mut **tx).await.map(|_| ())
}

enum Val {
    I(i64),
    F(f64),
    T(String),
    N,
}

fn t(s: impl Into<String>) -> Val {
    Val::T(s.into())
}

fn email_of(name: &str) -> String {
    let slug: String = name
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(".");
    format!("{slug}@example.com")
}

fn month_start(y: i32, m: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or_default()
}

fn next_month(d: NaiveDate) -> NaiveDate {
    if d.month() == 12 {
        month_start(d.year() + 1, 1)
    } else {
        month_start(d.year(), d.month() + 1)
    }
}

const TABLES: [&str; 8] = [
    "payments",
    "invoices",
    "tickets",
    "devices",
    "outages",
    "usage_records",
    "customers",
    "plans",
];

/// Seeds tenants 1 and 2 unless tenant 1 has customers; with `reset`,
/// deletes both tenants' business data first.
pub async fn seed(db: &Db, reset: bool) -> Result<SeedOutcome, StoreError> {
    let today = Utc::now().date_naive();
    let mut tx = db.pool().begin().await?;
    if reset {
        for table in TABLES {
            sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id IN (1, 2)"))
                .execute(&mut *tx)
                .await?;
        }
    } else {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = 1")
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Ok(SeedOutcome::AlreadyPresent { customers: n });
        }
    }
    seed_tenant(&mut tx, 1, &TENANT1, today, 0x1111).await?;
    seed_tenant(&mut tx, 2, &TENANT2, today, 0x2222).await?;
    tx.commit().await?;
    // Fresh statistics, so the planner picks the plugins' indexes (both
    // SQLite and PostgreSQL take a plain ANALYZE).
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    Ok(SeedOutcome::Seeded {
        customers: (TENANT1.len(), TENANT2.len()),
    })
}

async fn seed_tenant(
    tx: &mut Transaction<'static, Any>,
    tenant: i64,
    customers: &[CustomerSpec],
    today: NaiveDate,
    seed: u64,
) -> Result<(), sqlx::Error> {
    let mut rng = Lcg(seed);
    for p in &PLANS {
        let price = if tenant == 2 { p.cents - 500 } else { p.cents };
        exec(tx, "INSERT INTO plans (tenant_id, plan_code, name, download_mbps, upload_mbps, monthly_cents, data_cap_gb) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![Val::I(tenant), t(p.code), t(p.name), Val::I(p.down), Val::I(p.up), Val::I(price), p.cap.map_or(Val::N, Val::I)]).await?;
    }
    for (i, (code, name, plan, region, status)) in customers.iter().enumerate() {
        let phone = format!("555010{:04}", 1000 + i as i64 * 37 + tenant * 3);
        let since = month_start(2019 + (i as i32 % 6), 1 + (i as u32 * 5) % 12);
        exec(tx, "INSERT INTO customers (tenant_id, account_code, name, email, phone, plan_code, region, status, created_on) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![Val::I(tenant), t(*code), t(*name), t(email_of(name)), t(phone), t(*plan), t(*region), t(*status), t(since.to_string())]).await?;
    }

    // Invoices: one a month per customer from February 2025 to this month,
    // numbered per year in order of issue, customers in a fixed order.
    let mut seq_year = 0;
    let mut seq = 0;
    let mut payment_no = 0;
    let mut month = month_start(2025, 2);
    let this_month = month_start(today.year(), today.month());
    while month <= this_month {
        if month.year() != seq_year {
            seq_year = month.year();
            seq = 0;
        }
        for (code, _, plan, _, status) in customers {
            let cents = PLANS
                .iter()
                .find(|p| p.code == *plan)
                .map_or(4999, |p| p.cents)
                - if tenant == 2 { 500 } else { 0 };
            seq += 1;
            let id = format!("INV-{}-{seq:03}", month.year());
            let due = month + Duration::days(14);
            let months_ago = (this_month.year() - month.year()) * 12 + this_month.month() as i32
                - month.month() as i32;
            let late = LATE_PAYERS.contains(code) || *status == "suspended";
            let state = if month == this_month && due >= today {
                "unpaid"
            } else if late && months_ago <= 2 {
                "overdue"
            } else if months_ago == 0 {
                if rng.range(0, 2) == 0 {
                    "unpaid"
                } else {
                    "paid"
                }
            } else {
                "paid"
            };
            let state = if due < today && state == "unpaid" {
                "overdue"
            } else {
                state
            };
            exec(tx, "INSERT INTO invoices (tenant_id, invoice_id, account_code, amount_cents, status, issued_on, due_on) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![Val::I(tenant), t(id.clone()), t(*code), Val::I(cents), t(state), t(month.to_string()), t(due.to_string())]).await?;
            if state == "paid" {
                payment_no += 1;
                let paid_on = (month + Duration::days(rng.range(1, 12))).min(today);
                let method = ["card", "direct debit", "bank transfer"][rng.range(0, 2) as usize];
                exec(tx, "INSERT INTO payments (tenant_id, payment_id, account_code, invoice_id, amount_cents, paid_on, method) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    vec![Val::I(tenant), t(format!("PAY-{payment_no:05}")), t(*code), t(id), Val::I(cents), t(paid_on.to_string()), t(method)]).await?;
            }
        }
        month = next_month(month);
    }

    // Usage: the last twelve months.
    for (code, _, plan, _, _) in customers {
        let cap = PLANS.iter().find(|p| p.code == *plan).and_then(|p| p.cap);
        let mut m = this_month;
        for _ in 0..12 {
            let base = cap.map_or(rng.range(80, 900), |c| rng.range(c / 2, c + 40));
            let down = base as f64 + rng.range(0, 9) as f64 / 10.0;
            let up = (base / 8) as f64 + rng.range(0, 9) as f64 / 10.0;
            exec(tx, "INSERT INTO usage_records (tenant_id, account_code, month, download_gb, upload_gb) VALUES ($1, $2, $3, $4, $5)",
                vec![Val::I(tenant), t(*code), t(format!("{:04}-{:02}", m.year(), m.month())), Val::F(down), Val::F(up)]).await?;
            m = (m - Duration::days(1)).with_day(1).unwrap_or(m);
        }
    }

    // Devices: one router per customer (plus an ONT on fibre), and the
    // access network by region.
    let now = Utc::now();
    for (i, (code, _, plan, region, status)) in customers.iter().enumerate() {
        let offline = *status == "suspended" || i % 9 == 5;
        let seen = now - Duration::minutes(if offline { 60 * 26 } else { rng.range(1, 9) });
        let state = if offline { "offline" } else { "online" };
        exec(tx, "INSERT INTO devices (tenant_id, device_id, account_code, kind, region, status, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![Val::I(tenant), t(format!("CPE-{code}-1")), t(*code), t("router"), t(*region), t(state), t(seen.format("%Y-%m-%dT%H:%M:%SZ").to_string())]).await?;
        if plan.starts_with("FIBER") || plan.starts_with("GIGA") || plan.starts_with("BIZ") {
            exec(tx, "INSERT INTO devices (tenant_id, device_id, account_code, kind, region, status, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![Val::I(tenant), t(format!("ONT-{code}-1")), t(*code), t("ont"), t(*region), t(state), t(seen.format("%Y-%m-%dT%H:%M:%SZ").to_string())]).await?;
        }
    }
    let network: [(&str, &str, &str, &str); 12] = [
        ("OLT-NORTH-01", "olt", "north", "degraded"),
        ("OLT-NORTH-02", "olt", "north", "online"),
        ("OLT-SOUTH-01", "olt", "south", "online"),
        ("OLT-SOUTH-02", "olt", "south", "online"),
        ("OLT-EAST-01", "olt", "east", "online"),
        ("OLT-EAST-02", "olt", "east", "offline"),
        ("OLT-WEST-01", "olt", "west", "online"),
        ("OLT-CENTRAL-01", "olt", "central", "online"),
        ("SW-NORTH-01", "switch", "north", "online"),
        ("SW-SOUTH-07", "switch", "south", "online"),
        ("SW-EAST-03", "switch", "east", "degraded"),
        ("CORE-RTR-1", "core router", "central", "online"),
    ];
    for (id, kind, region, state) in network {
        let seen = now - Duration::minutes(if state == "offline" { 95 } else { 1 });
        exec(tx, "INSERT INTO devices (tenant_id, device_id, account_code, kind, region, status, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![Val::I(tenant), t(id), Val::N, t(kind), t(region), t(state), t(seen.format("%Y-%m-%dT%H:%M:%SZ").to_string())]).await?;
    }

    // Outages: tenant 1 has trouble in the north and east; tenant 2 in the west.
    let outages: Vec<(&str, &str, &str, &str, &str, i64, i64)> = if tenant == 1 {
        vec![
            (
                "OUT-1001",
                "north",
                "active",
                "high",
                "fibre cut near OLT-NORTH-01",
                3,
                142,
            ),
            (
                "OUT-1002",
                "east",
                "investigating",
                "medium",
                "OLT-EAST-02 unreachable",
                1,
                57,
            ),
            (
                "OUT-0990",
                "south",
                "resolved",
                "low",
                "planned maintenance",
                240,
                30,
            ),
        ]
    } else {
        vec![(
            "OUT-2001",
            "west",
            "active",
            "medium",
            "power failure at the west exchange",
            2,
            40,
        )]
    };
    for (id, region, status, severity, description, hours_ago, affected) in outages {
        let started = now - Duration::hours(hours_ago);
        let resolved = (status == "resolved").then(|| {
            (started + Duration::hours(4))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        });
        exec(tx, "INSERT INTO outages (tenant_id, outage_id, region, status, severity, description, started_at, resolved_at, affected_customers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![Val::I(tenant), t(id), t(region), t(status), t(severity), t(description), t(started.format("%Y-%m-%dT%H:%M:%SZ").to_string()), resolved.map_or(Val::N, Val::T), Val::I(affected)]).await?;
    }

    // Tickets.
    let subjects = [
        ("no internet since this morning", "urgent", "open"),
        ("slow speeds in the evening", "normal", "open"),
        ("router keeps rebooting", "high", "in_progress"),
        ("question about last invoice", "low", "open"),
        ("wifi drops every hour", "normal", "resolved"),
        ("request to upgrade plan", "low", "closed"),
        ("static IP request", "normal", "open"),
        ("line down after storm", "urgent", "in_progress"),
    ];
    for (i, (code, ..)) in customers
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0 || *i < 4)
    {
        let (subject, priority, status) = subjects[i % subjects.len()];
        let created = now - Duration::hours(rng.range(2, 24 * 20));
        exec(tx, "INSERT INTO tickets (tenant_id, ticket_id, account_code, subject, priority, status, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![Val::I(tenant), t(format!("TCK-{}", 1001 + i)), t(*code), t(subject), t(priority), t(status), t(created.format("%Y-%m-%dT%H:%M:%SZ").to_string()), t("demo")]).await?;
    }
    Ok(())
}
