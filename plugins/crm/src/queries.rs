//! The CRM plugin's manifest: intents with training examples, and the
//! named queries an admin reviews and grants.

use switchboard_plugin_sdk::prelude::*;

const CUSTOMER_COLUMNS: &str = "account_code, name, email, phone, plan_code, region, status";

pub fn manifest() -> Manifest {
    let customer = ["customer", "customer_name"];
    let lookup = ["crm.customer_by_code", "crm.customers_by_name"];
    Manifest::new("crm", env!("CARGO_PKG_VERSION"), "Customers, plans and support tickets")
        .intent(
            Intent::read("crm.customer_profile", "Shows a customer's profile")
                .examples([
                    "show the details of Lena Novak",
                    "details for account HJK310",
                    "full details on Tom Becker",
                    "account details for GHJ607",
                    "show me customer details for Emma Walsh",
                    "get the details of MNB778",
                    "address of MNB778",
                    "where does Lena Novak live",
                    "contact details of account HJK310",
                    "postal address for Tom Becker",
                    "email and phone of EDC248",
                    "what's the billing address of GHJ607",
                    "show the account of CVB157",
                    "customer record of Sofia Rossi",
                    "profile of HJK310",
                    "details on customer Lena Novak",
                    "who is behind account MNB778",
                    "show me everything about Tom Becker",
                    "customer summary for EDC248",
                    "account overview of Patel Hardware",
                    "what's the contact info for GHJ607",
                    "where is customer CVB157 located",
                    "info on Sofia Rossi",
                    "show customer ABC123",
                    "who is customer KLM204",
                    "customer profile for John Smith",
                    "tell me about account QWE555",
                    "give me the details of Garcia Logistics",
                    "open the account of ZTR991",
                    "what do we know about customer DEF456",
                    "customer info for Maria Lopez",
                    "look up account abc-123",
                    "pull up the customer record for KLM204",
                    "who owns account ABC123",
                    "everything on file for HJK310",
                    "how long has Lena Novak been with us",
                    "customer since when, MNB778",
                    "which region does Tom Becker live in",
                    "account information for EDC248",
                    "who is the account holder of GHJ607",
                    "full record for Patel Hardware",
                    "has Lena Novak's account been suspended",
                    "account status of Lena Novak",
                ])
                .requires_one_of(customer)
                .permission("customer_read")
                .queries(lookup.into_iter().chain(["crm.customer_since", "crm.open_tickets_by_customer", "crm.device_count"])),
        )
        .intent(
            Intent::read("crm.find_customer", "Searches customers by name, email or phone")
                .examples([
                    "look up customer Lena Novak",
                    "lookup the customer Tom Becker",
                    "search customer Sofia Rossi",
                    "look for a customer called Okafor",
                    "find me the customer Daniel Kim",
                    "search for clients named Schmidt",
                    "do we have a customer named Hassan",
                    "look up the account of emma.walsh@example.com",
                    "search for Lena",
                    "find a customer with the surname Novak",
                    "who is tom.becker@example.com",
                    "lookup by phone 555 010 1187",
                    "find customers named Rossi",
                    "which customer has email sofia@rossi.example",
                    "search the customer list for Becker",
                    "find the account with number +1 555 010 1234",
                    "is anyone called Okafor a customer",
                    "find customer John Smith",
                    "search for a customer named Garcia",
                    "who has the email john.smith@example.com",
                    "find the customer with phone (555) 010-4477",
                    "look for customers called Maria",
                    "which customer uses the number 555 010 2233",
                    "search customers by email jane@example.org",
                    "is there a customer named Lopez",
                    "find account by phone +44 20 7946 0958",
                    "who is registered with maria.lopez@example.com",
                    "which account belongs to lena@novak.example",
                    "the caller's number is 555 010 7788, which account is it",
                    "search by name: Okafor",
                    "a client with the name Becker",
                    "do we have anyone with the email tom.b@example.net",
                    "look someone up by phone 555-010-6060",
                    "customer search for Patel",
                    "do we have a client called Becker",
                ])
                .requires_one_of(["customer_name", "email", "phone"])
                .permission("customer_read")
                .queries(lookup.into_iter().chain(["crm.customers_by_email", "crm.customers_by_phone"])),
        )
        .intent(
            Intent::read("crm.top_customers", "Lists the customers who paid the most")
                .examples([
                    "our biggest clients",
                    "top ten accounts by spend",
                    "who pays us the most in the east",
                    "five largest customers",
                    "most valuable accounts in the west",
                    "the top 3 customers",
                    "which accounts generate the most revenue",
                    "rank customers by revenue",
                    "top customers in the north region",
                    "top customers",
                    "who are our top 5 customers",
                    "show the ten biggest customers",
                    "best customers in the north",
                    "largest accounts by revenue",
                    "top 3 customers in the southern region",
                    "which customers pay us the most",
                    "list our most valuable customers",
                    "highest paying clients in central",
                    "biggest spenders this year",
                    "highest revenue accounts",
                    "top 20 clients by billing",
                    "who spends the most with us in the south",
                    "our key accounts by revenue",
                    "biggest earners among our customers",
                    "list the VIP customers",
                    "key accounts in the east",
                    "our biggest spenders",
                    "highest value clients in the north",
                ])
                .optional(["limit", "region"])
                .permission("customer_read")
                .queries(["crm.top_customers"]),
        )
        .intent(
            Intent::read("crm.customer_plan", "Shows a customer's plan")
                .examples([
                    "current plan of HJK310",
                    "tariff for Lena Novak",
                    "MNB778's current package",
                    "what broadband plan is on account EDC248",
                    "plan details of Tom Becker",
                    "is GHJ607 on copper or fibre",
                    "what type of connection does CVB157 have",
                    "what product does Sofia Rossi subscribe to",
                    "what package is HJK310 on",
                    "which plan does Lena Novak have",
                    "what internet speed does MNB778 get",
                    "plan of Tom Becker",
                    "what is EDC248 subscribed to",
                    "is Patel Hardware on a business plan",
                    "how fast is GHJ607's connection supposed to be",
                    "what does CVB157 pay per month",
                    "which tier is Sofia Rossi on",
                    "what plan is customer UIO118 on",
                    "which package does John Smith have",
                    "show the subscription of KLM204",
                    "what speed does customer QWE555 pay for",
                    "plan details for Garcia Logistics",
                    "what tariff is account ZTR991 on",
                    "does DEF456 have a data cap",
                    "what's Maria Lopez's broadband plan",
                    "which subscription tier is ABC123",
                    "and their plan",
                    "what download speed is HJK310 paying for",
                    "contract details of Lena Novak's broadband",
                    "which bundle does MNB778 have",
                    "what's the monthly fee on Tom Becker's plan",
                    "what bandwidth is EDC248 entitled to",
                    "is GHJ607 on fibre",
                    "which package did Tom Becker sign up to",
                    "which bundle is MNB778 on",
                    "when does Lena Novak's contract end",
                    "what speed tier does EDC248 have",
                ])
                .requires_one_of(customer)
                .permission("customer_read")
                .queries(lookup.into_iter().chain(["crm.plan"])),
        )
        .intent(
            Intent::read("crm.open_tickets", "Lists open support tickets, by customer or priority")
                .examples([
                    "open support tickets for HJK310",
                    "does Lena Novak have any tickets",
                    "unresolved issues of MNB778",
                    "pending tickets",
                    "show all open cases",
                    "any high priority complaints",
                    "which tickets are unresolved in the queue",
                    "urgent support requests",
                    "what issues has Tom Becker reported that are still open",
                    "open tickets",
                    "show the open tickets of WER366",
                    "any urgent tickets",
                    "which tickets are still open",
                    "show me all high priority support tickets",
                    "does John Smith have open tickets",
                    "unresolved support cases for KLM204",
                    "show me the ticket queue",
                    "pending complaints from Garcia Logistics",
                    "what support requests are open",
                    "only the urgent ones",
                    "outstanding support cases",
                    "which complaints are still being worked on",
                    "open faults for Tom Becker",
                    "tickets awaiting resolution",
                    "any high priority cases open for HJK310",
                    "what's in the support backlog",
                ])
                .optional(["customer", "customer_name", "priority"])
                .permission("customer_read")
                .queries(lookup.into_iter().chain(["crm.open_tickets", "crm.open_tickets_by_customer"])),
        )
        .intent(
            Intent::action("crm.create_ticket", "Proposes a new support ticket for a customer")
                .examples([
                    "open a case for HJK310: cannot connect",
                    "log a fault for Lena Novak about packet loss",
                    "create a support ticket for MNB778, modem lights red",
                    "raise an urgent case for Tom Becker: no service",
                    "new support request for EDC248 regarding billing error",
                    "please log a ticket for Patel Hardware",
                    "open an incident for GHJ607 about dropped calls",
                    "create a high priority ticket for CVB157",
                    "open a ticket for KLM204: no internet",
                    "create a ticket for ABC123 about slow speeds",
                    "log a support case for John Smith: router keeps rebooting",
                    "raise an urgent ticket for QWE555, line down",
                    "file a complaint for Garcia Logistics about billing",
                    "new ticket for ZTR991 subject wifi drops",
                    "please open a support request for DEF456",
                    "report a fault for customer ABC123",
                    "make a high priority ticket for Maria Lopez",
                    "create an incident for KLM204",
                    "raise a fault report for HJK310: intermittent wifi",
                    "log an issue for Lena Novak, no dial tone",
                    "record a complaint from Tom Becker about slow broadband",
                    "open a trouble ticket for EDC248",
                ])
                .requires_one_of(customer)
                .optional(["subject", "priority"])
                .permission("customer_write")
                .queries(lookup.into_iter().chain(["crm.max_ticket_number", "crm.insert_ticket"])),
        )
        .intent(
            Intent::action("crm.update_contact", "Proposes new contact details for a customer")
                .examples([
                    "change the email for HJK310 to lena@novak.example",
                    "update Lena Novak's phone number to 555 010 7788",
                    "set the phone of MNB778 to (555) 010-3344",
                    "new email for Tom Becker: tom.b@example.net",
                    "update contact info of EDC248 with phone +1 555 010 2020",
                    "replace GHJ607's email with carlos@mendes.example",
                    "change Patel Hardware's number to 555-010-6060",
                    "CVB157 changed their email to lukas@schmidt.example",
                    "update the email of ABC123 to john@example.com",
                    "change KLM204's phone to 555 010 9999",
                    "set John Smith's email to john.smith@newmail.com",
                    "new phone number for QWE555: (555) 010-4477",
                    "update contact details for Garcia Logistics, email ops@garcia.example",
                    "change the email address on account ZTR991 to a@b.com",
                    "customer DEF456 has a new number 555-010-1234",
                    "edit Maria Lopez's phone to +44 20 7946 0958",
                    "correct the email for ABC123: smith.j@example.org",
                    "HJK310 has a new mobile number 555 010 4242",
                    "switch Lena Novak's email to lena.n@example.org",
                    "the phone on file for MNB778 should be 555-010-1111",
                    "amend Tom Becker's contact email to tb@example.com",
                    "put +44 20 7946 0000 as EDC248's number",
                ])
                .requires_one_of(customer)
                .requires_one_of(["email", "phone"])
                .permission("customer_write")
                .queries(lookup.into_iter().chain(["crm.update_contact"])),
        )
        .query(NamedQuery::read(
            "crm.customer_by_code",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND account_code = :code"),
        ).describe("One customer by account code"))
        .query(NamedQuery::read(
            "crm.customers_by_name",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND LOWER(name) LIKE :pattern ORDER BY name, account_code LIMIT 20"),
        ).describe("Customers whose name matches a pattern"))
        .query(NamedQuery::read(
            "crm.customers_by_email",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND LOWER(email) = :email ORDER BY account_code"),
        ).describe("Customers with an email address"))
        .query(NamedQuery::read(
            "crm.customers_by_phone",
            format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE tenant_id = :tenant_id AND phone LIKE :pattern ORDER BY account_code LIMIT 20"),
        ).describe("Customers whose phone ends with digits"))
        .query(NamedQuery::read(
            "crm.customer_since",
            "SELECT created_on FROM customers WHERE tenant_id = :tenant_id AND account_code = :code",
        ).describe("When a customer joined"))
        .query(NamedQuery::read(
            "crm.device_count",
            "SELECT COUNT(*) AS n FROM devices WHERE tenant_id = :tenant_id AND account_code = :code",
        ).describe("How many devices a customer has"))
        .query(NamedQuery::read(
            "crm.top_customers",
            "SELECT c.account_code, c.name, c.region, CAST(SUM(p.amount_cents) AS BIGINT) AS total_cents \
             FROM customers c JOIN payments p ON p.tenant_id = c.tenant_id AND p.account_code = c.account_code \
             WHERE c.tenant_id = :tenant_id AND (:region IS NULL OR c.region = :region) \
             GROUP BY c.account_code, c.name, c.region ORDER BY total_cents DESC, c.account_code LIMIT :limit",
        ).describe("Customers by total payments"))
        .query(NamedQuery::read(
            "crm.plan",
            "SELECT plan_code, name, download_mbps, upload_mbps, monthly_cents, data_cap_gb FROM plans \
             WHERE tenant_id = :tenant_id AND plan_code = :plan",
        ).describe("One plan"))
        .query(NamedQuery::read(
            "crm.open_tickets",
            "SELECT ticket_id, account_code, subject, priority, status, created_at FROM tickets \
             WHERE tenant_id = :tenant_id AND status IN ('open', 'in_progress') \
             ORDER BY CASE priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, created_at LIMIT 200",
        ).describe("Open tickets, most urgent first"))
        .query(NamedQuery::read(
            "crm.open_tickets_by_customer",
            "SELECT ticket_id, account_code, subject, priority, status, created_at FROM tickets \
             WHERE tenant_id = :tenant_id AND account_code = :code AND status IN ('open', 'in_progress') \
             ORDER BY created_at DESC",
        ).describe("A customer's open tickets"))
        .query(NamedQuery::read(
            "crm.max_ticket_number",
            "SELECT MAX(CAST(SUBSTR(ticket_id, 5) AS BIGINT)) AS max_n FROM tickets WHERE tenant_id = :tenant_id",
        ).describe("The highest ticket number"))
        .query(NamedQuery::write(
            "crm.insert_ticket",
            "INSERT INTO tickets (tenant_id, ticket_id, account_code, subject, priority, status, created_at, created_by) \
             VALUES (:tenant_id, :id, :code, :subject, :priority, 'open', :created_at, :created_by)",
        ).describe("Opens a ticket"))
        .query(NamedQuery::write(
            "crm.update_contact",
            "UPDATE customers SET email = COALESCE(:email, email), phone = COALESCE(:phone, phone) \
             WHERE tenant_id = :tenant_id AND account_code = :code",
        ).describe("Changes a customer's email and/or phone"))
}
