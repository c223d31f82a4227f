//! The billing plugin's manifest: its intents with training examples, and
//! the named queries (SQL) an admin reviews and grants.

use switchboard_plugin_sdk::prelude::*;

const CUSTOMER_COLUMNS: &str = "account_code, name, email, phone, plan_code, region, status";

pub fn manifest() -> Manifest {
    let customer = ["customer", "customer_name"];
    Manifest::new("billing", env!("CARGO_PKG_VERSION"), "Invoices, balances, payments and revenue")
        .intent(
            Intent::read("billing.customer_invoices", "Lists a customer's invoices, optionally by status and period")
                .examples([
                    "invoices for HJK310",
                    "MNB778 invoices",
                    "bills for EDC248 please",
                    "invoices of Tom Becker",
                    "all invoices for account GHJ607",
                    "HJK310's bills",
                    "show invoices for CVB157 please",
                    "get me the invoices for HJK310",
                    "what did we invoice Lena Novak",
                    "invoices of account mnb-778",
                    "show the bills sent to Oduya Bakery",
                    "which bills has Tom Becker received",
                    "invoice history of customer EDC248",
                    "overdue invoices for Patel Hardware",
                    "list every invoice issued to UIO118",
                    "I need the statements for GHJ607",
                    "billing details for account TGB392",
                    "bills for Harbor Dental Clinic from last month",
                    "unpaid bills of Sofia Rossi",
                    "show the invoices of CVB157 in march",
                    "can i see the invoices for customer WER366",
                    "show me billing for customer ABC123",
                    "list the invoices of customer HJK310",
                    "which invoices does Lena Novak have",
                    "pull up the bills of account MNB778",
                    "unpaid bills for customer GHJ607",
                    "show invoices of Garcia Logistics",
                    "billing information for ABC123",
                    "can you get me the invoices for account KLM-204",
                    "invoices from last month for ABC123",
                    "which invoices of ABC123 are overdue",
                    "paid invoices for Maria Lopez",
                    "get all bills for John Smith",
                    "invoice list for customer DEF456",
                    "show the billing history of customer ABC123",
                    "what has ABC123 been billed",
                    "and their bills",
                    "statements issued to KLM204 this year",
                    "copy of the latest bill for Tom Becker",
                    "which of EDC248's invoices are still open",
                    "billing records on file for Patel Hardware",
                    "has GHJ607 been sent any invoices lately",
                    "what have we charged Sofia Rossi so far",
                ])
                .requires_one_of(customer)
                .optional(["status", "period"])
                .permission("billing_read")
                .queries(["billing.customer_by_code", "billing.customers_by_name", "billing.invoices_by_customer"]),
        )
        .intent(
            Intent::read("billing.invoice_details", "Shows one invoice and the payments made against it")
                .examples([
                    "pull up invoice INV-2024-088",
                    "what's on INV-2025-120",
                    "was invoice INV-2025-052 settled",
                    "invoice inv 2025 077 please",
                    "give me the breakdown of INV-2025-019",
                    "how much was INV-2024-201",
                    "when is invoice INV-2025-066 due",
                    "check invoice number INV-2025-143",
                    "show invoice INV-2025-001",
                    "details of invoice inv-2025-014",
                    "what is invoice INV-2024-118 for",
                    "open invoice INV-2025-003",
                    "tell me about INV-2025-002",
                    "is invoice INV-2025-010 paid",
                    "look up invoice number INV-2025-007",
                    "invoice INV-2025-001 details please",
                    "what's the status of invoice INV-2025-004",
                    "who was invoice INV-2025-009 issued to",
                    "line-by-line charges on INV-2025-061",
                    "what items are on invoice INV-2024-150",
                    "due date and amount of INV-2025-033",
                    "has INV-2025-048 been paid off",
                    "itemised breakdown for inv-2025-090",
                    "how much is left to pay on INV-2025-072",
                    "who paid INV-2024-140 and when",
                    "total of invoice INV-2025-015",
                ])
                .requires("invoice")
                .permission("billing_read")
                .queries(["billing.invoice_by_id", "billing.payments_by_invoice", "billing.customer_by_code"]),
        )
        .intent(
            Intent::read("billing.balance", "Shows what a customer owes")
                .examples([
                    "what does HJK310 owe us",
                    "how much is outstanding for Lena Novak",
                    "remaining balance of account MNB778",
                    "total amount due for Tom Becker",
                    "is there any money owed by EDC248",
                    "how far behind is GHJ607",
                    "what's the debt of Patel Hardware",
                    "balance due on customer CVB157",
                    "does Sofia Rossi have unpaid charges",
                    "how much money is owed on WER366",
                    "what is the balance of ABC123",
                    "how much does KLM204 owe",
                    "outstanding balance for John Smith",
                    "does customer QWE555 owe us anything",
                    "what's the amount due for account ZTR991",
                    "how much is Garcia Logistics behind on payments",
                    "current balance for customer DEF456",
                    "amount owed by ABC123",
                    "is ABC123 up to date with payments",
                    "check the account balance of Maria Lopez",
                    "how much money does John Smith owe",
                    "and their balance",
                    "is WER366 in the red",
                    "does Lena Novak have arrears on her account",
                    "what is MNB778's outstanding amount",
                    "Tom Becker is on the phone asking what he owes",
                    "how much debt does CVB157 have with us",
                    "is EDC248 behind with their bills",
                    "net amount owing on HJK310",
                    "is Patel Hardware paid up",
                    "Oduya Bakery is asking how much they still have to pay",
                    "how much is due from account GHJ607 right now",
                    "what's the total still owing on MNB778",
                ])
                .requires_one_of(customer)
                .permission("billing_read")
                .queries(["billing.customer_by_code", "billing.customers_by_name", "billing.invoices_by_customer"]),
        )
        .intent(
            Intent::read("billing.overdue_invoices", "Lists overdue invoices, by region or above an amount")
                .examples([
                    "which customers haven't paid their invoices",
                    "clients that have not paid yet",
                    "accounts with unpaid overdue bills",
                    "who still hasn't settled their invoices",
                    "which accounts have not paid",
                    "list customers with late invoices",
                    "unpaid past due bills in the west",
                    "show delinquent customers",
                    "who owes us money right now",
                    "late invoices above $150",
                    "overdue accounts over 1000 dollars",
                    "which invoices are past their due date",
                    "customers behind on payments in the northern region",
                    "collections list for the south",
                    "show overdue invoices",
                    "which invoices are overdue",
                    "overdue invoices in the north",
                    "list late payments over $100",
                    "who hasn't paid on time",
                    "overdue bills in the southern region above 200 dollars",
                    "which customers are behind on payment",
                    "all past due invoices",
                    "delinquent accounts in the east",
                    "overdue invoices over 500",
                    "any overdue invoices in central",
                    "accounts in arrears in the west",
                    "dunning run candidates over 200",
                    "who is late paying in the north region",
                    "past-due balances across all customers",
                    "invoices nobody paid by the deadline",
                    "overdue list for collections",
                    "which bills have lapsed without payment",
                    "accounts flagged for dunning",
                    "accounts in collections in the north",
                    "debtors list for the south",
                    "customers behind on payments by more than 500",
                    "which accounts are in arrears",
                ])
                .optional(["region", "min_amount"])
                .permission("billing_read")
                .queries(["billing.overdue_invoices"]),
        )
        .intent(
            Intent::read("billing.payment_history", "Lists a customer's payments, optionally in a period")
                .examples([
                    "what has HJK310 paid so far",
                    "show the payments received from Lena Novak",
                    "last payment of account MNB778",
                    "payments by Tom Becker in 2025",
                    "when was the last time GHJ607 paid",
                    "transaction history for EDC248",
                    "list the payments Patel Hardware made",
                    "has Sofia Rossi paid anything recently",
                    "payment log of customer CVB157",
                    "payment history for ABC123",
                    "show payments made by KLM204",
                    "when did John Smith last pay",
                    "what payments has QWE555 made this year",
                    "list the payments of Garcia Logistics last month",
                    "did ABC123 pay in March",
                    "show me the payment record for account ZTR991",
                    "recent payments from customer DEF456",
                    "how has Maria Lopez paid us",
                    "and their payments",
                    "did Tom Becker settle anything in october",
                    "show money received from CVB157",
                    "when did HJK310 make their most recent payment",
                    "payments posted to Lena Novak's account",
                    "has MNB778 paid their bill this month",
                    "list of receipts for EDC248",
                ])
                .requires_one_of(customer)
                .optional(["period"])
                .permission("billing_read")
                .queries(["billing.customer_by_code", "billing.customers_by_name", "billing.payments_by_customer"]),
        )
        .intent(
            Intent::read("billing.revenue_summary", "Summarises revenue collected and invoiced in a period")
                .examples([
                    "what's our income this quarter",
                    "revenue figures for last year",
                    "how much have we earned this month",
                    "total collected in the west last quarter",
                    "billing totals for 2025",
                    "monthly revenue report",
                    "how much did we invoice in february",
                    "earnings summary for the central region",
                    "what's the revenue so far this year",
                    "revenue summary",
                    "how much revenue did we make last month",
                    "total revenue in the north this year",
                    "what did we collect in March",
                    "revenue report for Q1",
                    "how much money came in last quarter",
                    "income summary for the south region",
                    "show me revenue for this month",
                    "what were total billings last year",
                    "sales figures for the east",
                    "turnover for the west region this quarter",
                    "how much cash came in during 2025",
                    "total billed versus collected last month",
                    "revenue breakdown by month",
                    "takings for the north this year",
                    "monthly recurring revenue for the north",
                    "MRR by region",
                    "average revenue per user in the east",
                    "turnover for last month",
                    "how much did we bill in total in the west",
                ])
                .optional(["period", "region"])
                .permission("billing_read")
                .queries(["billing.revenue_collected", "billing.revenue_invoiced", "billing.outstanding_total"]),
        )
        .intent(
            Intent::action("billing.generate_invoice", "Proposes a new invoice for a customer's plan")
                .examples([
                    "draw up an invoice for HJK310",
                    "create a bill for Lena Novak",
                    "please invoice account MNB778",
                    "new invoice for Tom Becker",
                    "generate the monthly bill for EDC248",
                    "issue a new bill to Patel Hardware",
                    "charge GHJ607 for their subscription",
                    "produce an invoice for customer CVB157",
                    "generate a fresh invoice for account HJK310",
                    "create a new invoice for KLM204",
                    "bill Emma Walsh for the current month",
                    "issue an invoice to customer QWE555",
                    "make an invoice for Garcia Logistics",
                    "raise a bill for account ZTR991",
                    "send a new invoice to DEF456",
                    "invoice customer ABC123 for their plan",
                    "please prepare an invoice for Maria Lopez",
                    "bill HJK310 for this month's service",
                    "generate Lena Novak's october invoice",
                    "invoice MNB778 for the month",
                    "cut a new invoice for Tom Becker",
                    "we need to bill EDC248 for their plan",
                    "bill HJK310 for the month",
                    "charge Tom Becker for this month's service",
                    "run a bill for MNB778",
                ])
                .requires_one_of(customer)
                .permission("billing_write")
                .queries([
                    "billing.customer_by_code",
                    "billing.customers_by_name",
                    "billing.plan_price",
                    "billing.max_invoice_number",
                    "billing.insert_invoice",
                ]),
        )
        .query(NamedQuery::read(
            "billing.customer_by_code",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND account_code = :code"),
        ).describe("One customer by account code"))
        .query(NamedQuery::read(
            "billing.customers_by_name",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND LOWER(name) LIKE :pattern ORDER BY name, account_code LIMIT 20"),
        ).describe("Customers whose name matches a pattern"))
        .query(NamedQuery::read(
            "billing.invoices_by_customer",
            "SELECT invoice_id, account_code, amount_cents, status, issued_on, due_on FROM invoices \
             WHERE tenant_id = :tenant_id AND account_code = :code ORDER BY issued_on, invoice_id",
        ).describe("A customer's invoices, oldest first"))
        .query(NamedQuery::read(
            "billing.invoice_by_id",
            "SELECT invoice_id, account_code, amount_cents, status, issued_on, due_on FROM invoices \
             WHERE tenant_id = :tenant_id AND invoice_id = :id",
        ).describe("One invoice"))
        .query(NamedQuery::read(
            "billing.payments_by_invoice",
            "SELECT payment_id, invoice_id, amount_cents, paid_on, method FROM payments \
             WHERE tenant_id = :tenant_id AND invoice_id = :id ORDER BY paid_on",
        ).describe("Payments against one invoice"))
        .query(NamedQuery::read(
            "billing.payments_by_customer",
            "SELECT payment_id, invoice_id, amount_cents, paid_on, method FROM payments \
             WHERE tenant_id = :tenant_id AND account_code = :code ORDER BY paid_on DESC, payment_id",
        ).describe("A customer's payments, newest first"))
        .query(NamedQuery::read(
            "billing.overdue_invoices",
            "SELECT i.invoice_id, i.account_code, c.name, c.region, i.amount_cents, i.due_on \
             FROM invoices i JOIN customers c ON c.tenant_id = i.tenant_id AND c.account_code = i.account_code \
             WHERE i.tenant_id = :tenant_id AND i.status = 'overdue' \
             AND (:region IS NULL OR c.region = :region) AND i.amount_cents >= :min_cents \
             ORDER BY i.amount_cents DESC, i.invoice_id LIMIT 100",
        ).describe("Overdue invoices, largest first, by region and minimum amount"))
        .query(NamedQuery::read(
            "billing.revenue_collected",
            "SELECT CAST(SUM(p.amount_cents) AS BIGINT) AS total, COUNT(*) AS n FROM payments p \
             JOIN customers c ON c.tenant_id = p.tenant_id AND c.account_code = p.account_code \
             WHERE p.tenant_id = :tenant_id AND p.paid_on >= :from AND p.paid_on <= :to \
             AND (:region IS NULL OR c.region = :region)",
        ).describe("Payments received in a period"))
        .query(NamedQuery::read(
            "billing.revenue_invoiced",
            "SELECT CAST(SUM(i.amount_cents) AS BIGINT) AS total, COUNT(*) AS n FROM invoices i \
             JOIN customers c ON c.tenant_id = i.tenant_id AND c.account_code = i.account_code \
             WHERE i.tenant_id = :tenant_id AND i.issued_on >= :from AND i.issued_on <= :to \
             AND (:region IS NULL OR c.region = :region)",
        ).describe("Invoices issued in a period"))
        .query(NamedQuery::read(
            "billing.outstanding_total",
            "SELECT CAST(SUM(i.amount_cents) AS BIGINT) AS total, COUNT(*) AS n FROM invoices i \
             JOIN customers c ON c.tenant_id = i.tenant_id AND c.account_code = i.account_code \
             WHERE i.tenant_id = :tenant_id AND i.status <> 'paid' AND (:region IS NULL OR c.region = :region)",
        ).describe("Everything unpaid now"))
        .query(NamedQuery::read(
            "billing.plan_price",
            "SELECT monthly_cents, name FROM plans WHERE tenant_id = :tenant_id AND plan_code = :plan",
        ).describe("A plan's monthly price"))
        .query(NamedQuery::read(
            "billing.max_invoice_number",
            "SELECT MAX(CAST(SUBSTR(invoice_id, 10) AS BIGINT)) AS max_n FROM invoices \
             WHERE tenant_id = :tenant_id AND invoice_id LIKE :pattern",
        ).describe("The highest invoice number with a prefix"))
        .query(NamedQuery::write(
            "billing.insert_invoice",
            "INSERT INTO invoices (tenant_id, invoice_id, account_code, amount_cents, status, issued_on, due_on) \
             VALUES (:tenant_id, :id, :code, :cents, 'unpaid', :issued, :due)",
        ).describe("Creates an unpaid invoice"))
}
