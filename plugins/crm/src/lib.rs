//! The core CRM plugin: customer profiles and search, top customers, plans,
//! tickets, and two actions (open a ticket, update contact details) that
//! write only once an agent confirms.
//!
//! `structured_data` shapes, per intent:
//! - `crm.customer_profile`: `{"customer_id", "name", "email", "phone", "plan", "region", "status", "since", "open_tickets", "devices"}`
//! - `crm.find_customer`: `{"query": {...}, "customers": [{"customer_id", "name", "email", "phone", "plan", "region", "status"}]}`
//! - `crm.top_customers`: `{"region", "limit", "customers": [{"customer_id", "name", "region", "total_paid"}]}`
//! - `crm.customer_plan`: `{"customer_id", "plan": {"code", "name", "download_mbps", "upload_mbps", "monthly_price", "data_cap_gb"}}`
//! - `crm.open_tickets`: `{"customer_id", "priority", "tickets": [{"ticket_id", "customer_id", "subject", "priority", "status", "created_at"}]}`
//! - `crm.create_ticket`: `{"customer_id", "subject", "priority"}` (the proposal)
//! - `crm.update_contact`: `{"customer_id", "email", "phone", "previous": {"email", "phone"}}` (the proposal)

mod queries;

use serde::Deserialize;
use switchboard_isp_common::{
    Customer, CustomerQueries, amount, money, name_pattern, plural, require_customer,
};
use switchboard_plugin_sdk::prelude::*;

const CUSTOMERS: CustomerQueries = CustomerQueries {
    by_code: "crm.customer_by_code",
    by_name: "crm.customers_by_name",
};

struct Crm;

#[derive(Deserialize)]
struct Ticket {
    ticket_id: String,
    account_code: String,
    subject: String,
    priority: String,
    status: String,
    created_at: String,
}

#[derive(Deserialize)]
struct Plan {
    plan_code: String,
    name: String,
    download_mbps: i64,
    upload_mbps: i64,
    monthly_cents: i64,
    data_cap_gb: Option<i64>,
}

#[derive(Deserialize)]
struct TopRow {
    account_code: String,
    name: String,
    region: Option<String>,
    total_cents: i64,
}

#[derive(Deserialize)]
struct Since {
    created_on: String,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

#[derive(Deserialize)]
struct MaxNumber {
    max_n: Option<i64>,
}

macro_rules! customer {
    ($request:expr) => {
        match require_customer($request, CUSTOMERS)? {
            Ok(c) => c,
            Err(answer) => return Ok(answer),
        }
    };
}

fn ticket_json(t: &Ticket) -> serde_json::Value {
    json!({
        "ticket_id": t.ticket_id, "customer_id": t.account_code, "subject": t.subject,
        "priority": t.priority, "status": t.status, "created_at": t.created_at,
    })
}

fn customer_profile(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let code = c.account_code.as_str();
    let since = query("crm.customer_since")
        .param("code", code)
        .fetch_optional::<Since>()?;
    let tickets: Vec<Ticket> = query("crm.open_tickets_by_customer")
        .param("code", code)
        .fetch()?;
    let devices = query("crm.device_count")
        .param("code", code)
        .fetch_optional::<Count>()?
        .map_or(0, |d| d.n);
    let mut data = c.to_json();
    data["since"] = json!(since.as_ref().map(|s| s.created_on.clone()));
    data["open_tickets"] = json!(tickets.len());
    data["devices"] = json!(devices);
    let text = format!(
        "{}: {} customer in the {} region on plan {}, since {}. Email {}, phone {}. {} open, {}.",
        c.label(),
        c.status,
        c.region.as_deref().unwrap_or("unknown"),
        c.plan_code.as_deref().unwrap_or("none"),
        since.map_or_else(|| "unknown".to_owned(), |s| s.created_on),
        c.email.as_deref().unwrap_or("unknown"),
        c.phone.as_deref().unwrap_or("unknown"),
        plural(tickets.len(), "ticket", "tickets"),
        plural(devices as usize, "device", "devices"),
    );
    let mut answer = Answer::text(text)
        .data(data)
        .suggest(SuggestedAction::new(
            "billing.customer_invoices",
            json!({ "customer": code }),
            "Show invoices",
        ))
        .suggest(SuggestedAction::new(
            "monitoring.connection_status",
            json!({ "customer": code }),
            "Check the connection",
        ));
    if !tickets.is_empty() {
        answer = answer.suggest(SuggestedAction::new(
            "crm.open_tickets",
            json!({ "customer": code }),
            "Show open tickets",
        ));
    }
    Ok(answer)
}

fn find(request: &Request) -> Result<Answer, PluginError> {
    let e = &request.entities;
    let (by, value, rows): (&str, &str, Vec<Customer>) = if let Some(email) = e.get("email") {
        (
            "email",
            email,
            query("crm.customers_by_email")
                .param("email", email.to_lowercase())
                .fetch()?,
        )
    } else if let Some(phone) = e.get("phone") {
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let tail = if digits.len() > 7 {
            &digits[digits.len() - 7..]
        } else {
            digits.as_str()
        };
        let rows: Vec<Customer> = query("crm.customers_by_phone")
            .param("pattern", format!("%{tail}"))
            .fetch()?;
        ("phone", phone, rows)
    } else if let Some(name) = e.get("customer_name") {
        (
            "name",
            name,
            query("crm.customers_by_name")
                .param("pattern", name_pattern(name))
                .fetch()?,
        )
    } else if let Some(code) = e.get("customer") {
        (
            "account code",
            code,
            query("crm.customer_by_code").param("code", code).fetch()?,
        )
    } else {
        return Ok(Answer::text(
            "Search by what? Give me a name, an email address or a phone number.",
        )
        .data(
            json!({ "error": "missing_entity", "missing": ["customer_name", "email", "phone"] }),
        ));
    };
    let text = match rows.len() {
        0 => format!("No customer matches {by} \"{value}\"."),
        1 => format!("Found {} by {by}.", rows[0].label()),
        n => format!(
            "{n} customers match {by} \"{value}\": {}.",
            rows.iter()
                .map(Customer::label)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut answer = Answer::text(text).data(json!({
        "query": { by.replace(' ', "_"): value },
        "customers": rows.iter().map(Customer::to_json).collect::<Vec<_>>(),
    }));
    for c in rows.iter().take(5) {
        answer = answer.suggest(SuggestedAction::new(
            "crm.customer_profile",
            json!({ "customer": c.account_code }),
            format!("Open the profile of {}", c.label()),
        ));
    }
    Ok(answer)
}

fn top_customers(request: &Request) -> Result<Answer, PluginError> {
    let limit: i64 = request
        .entities
        .parsed::<i64>("limit")
        .ok()
        .flatten()
        .unwrap_or(5)
        .clamp(1, 100);
    let region = request.entities.get("region");
    let rows: Vec<TopRow> = query("crm.top_customers")
        .param("region", region)
        .param("limit", limit)
        .fetch()?;
    let scope = region
        .map(|r| format!(" in the {r} region"))
        .unwrap_or_default();
    let text = if rows.is_empty() {
        format!("No customers with payments{scope}.")
    } else {
        let lines: Vec<String> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{}. {} ({}) {}",
                    i + 1,
                    r.name,
                    r.account_code,
                    money(r.total_cents)
                )
            })
            .collect();
        format!(
            "Top {} customers by payments{scope}: {}.",
            rows.len(),
            lines.join("; ")
        )
    };
    let mut answer = Answer::text(text).data(json!({
        "region": region,
        "limit": limit,
        "customers": rows.iter().map(|r| json!({
            "customer_id": r.account_code, "name": r.name, "region": r.region, "total_paid": amount(r.total_cents),
        })).collect::<Vec<_>>(),
    }));
    if let Some(first) = rows.first() {
        answer = answer.suggest(SuggestedAction::new(
            "crm.customer_profile",
            json!({ "customer": first.account_code }),
            format!("Open the profile of {}", first.name),
        ));
    }
    Ok(answer)
}

fn customer_plan(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let Some(code) = c.plan_code.clone() else {
        return Ok(Answer::text(format!("{} has no plan.", c.label()))
            .data(json!({ "customer_id": c.account_code, "plan": null })));
    };
    let plan = query("crm.plan")
        .param("plan", code.as_str())
        .fetch_optional::<Plan>()?;
    let Some(p) = plan else {
        return Ok(Answer::text(format!(
            "{} is on plan {code}, which has no details on file.",
            c.label()
        ))
        .data(json!({ "customer_id": c.account_code, "plan": { "code": code } })));
    };
    let cap = p.data_cap_gb.map_or_else(
        || "no data cap".to_owned(),
        |g| format!("a {g} GB data cap"),
    );
    Ok(Answer::text(format!(
        "{} is on {} ({}): {}/{} Mbps for {} a month, {cap}.",
        c.label(),
        p.name,
        p.plan_code,
        p.download_mbps,
        p.upload_mbps,
        money(p.monthly_cents)
    ))
    .data(json!({
        "customer_id": c.account_code,
        "plan": {
            "code": p.plan_code, "name": p.name, "download_mbps": p.download_mbps, "upload_mbps": p.upload_mbps,
            "monthly_price": amount(p.monthly_cents), "data_cap_gb": p.data_cap_gb,
        },
    }))
    .suggest(SuggestedAction::new("monitoring.usage", json!({ "customer": c.account_code }), "Show data usage")))
}

fn open_tickets(request: &Request) -> Result<Answer, PluginError> {
    let priority = request.entities.get("priority");
    let names_customer = request.entities.get("customer").is_some()
        || request.entities.get("customer_name").is_some();
    let customer = if names_customer {
        Some(customer!(request))
    } else {
        None
    };
    let mut tickets: Vec<Ticket> = match &customer {
        Some(c) => query("crm.open_tickets_by_customer")
            .param("code", c.account_code.as_str())
            .fetch()?,
        None => query("crm.open_tickets").fetch()?,
    };
    if let Some(p) = priority {
        tickets.retain(|t| t.priority == p);
    }
    let whose = customer
        .as_ref()
        .map(|c| format!(" for {}", c.label()))
        .unwrap_or_default();
    let kind = priority
        .map(|p| format!("{p}-priority "))
        .unwrap_or_default();
    let text = if tickets.is_empty() {
        format!("No open {kind}tickets{whose}.")
    } else {
        let lines: Vec<String> = tickets
            .iter()
            .take(10)
            .map(|t| {
                format!(
                    "{} {} ({}, {})",
                    t.ticket_id, t.subject, t.priority, t.account_code
                )
            })
            .collect();
        format!(
            "{}{whose}: {}{}.",
            plural(
                tickets.len(),
                &format!("open {kind}ticket"),
                &format!("open {kind}tickets")
            ),
            lines.join("; "),
            if tickets.len() > 10 { "; ..." } else { "" }
        )
    };
    let mut answer = Answer::text(text).data(json!({
        "customer_id": customer.as_ref().map(|c| c.account_code.clone()),
        "priority": priority,
        "tickets": tickets.iter().map(ticket_json).collect::<Vec<_>>(),
    }));
    if let Some(c) = &customer {
        answer = answer.suggest(SuggestedAction::new(
            "crm.create_ticket",
            json!({ "customer": c.account_code }),
            "Open a new ticket",
        ));
    }
    Ok(answer)
}

fn create_ticket(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let subject = request
        .entities
        .get("subject")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("General enquiry")
        .chars()
        .take(200)
        .collect::<String>();
    let priority = request.entities.get("priority").unwrap_or("normal");
    let summary = format!(
        "Open a {priority}-priority ticket for {}: \"{subject}\"",
        c.label()
    );
    Ok(Answer::text(format!("{summary}. Confirm to create it."))
        .data(json!({ "customer_id": c.account_code, "subject": subject, "priority": priority }))
        .propose(ProposedAction::new(
            "crm.create_ticket",
            json!({ "customer": c.account_code, "subject": subject, "priority": priority }),
            summary,
        )))
}

fn update_contact(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let email = request.entities.get("email");
    let phone = request.entities.get("phone");
    if email.is_none() && phone.is_none() {
        return Ok(Answer::text(format!(
            "What should I change for {}? Give me the new email address or phone number.",
            c.label()
        ))
        .data(json!({ "error": "missing_entity", "missing": ["email", "phone"], "customer_id": c.account_code })));
    }
    let mut changes = Vec::new();
    if let Some(e) = email {
        changes.push(format!("email to {e}"));
    }
    if let Some(p) = phone {
        changes.push(format!("phone to {p}"));
    }
    let summary = format!("Change {} of {}", changes.join(" and "), c.label());
    Ok(Answer::text(format!("{summary}. Confirm to save it."))
        .data(json!({
            "customer_id": c.account_code, "email": email, "phone": phone,
            "previous": { "email": c.email, "phone": c.phone },
        }))
        .propose(ProposedAction::new(
            "crm.update_contact",
            json!({ "customer": c.account_code, "email": email, "phone": phone }),
            summary,
        )))
}

fn execute_create_ticket(action: &ActionRequest) -> Result<ActionResult, PluginError> {
    let code = action.param_str("customer")?;
    let subject = action.param_str("subject")?;
    let priority = action.param_str("priority").unwrap_or("normal");
    if !["low", "normal", "high", "urgent"].contains(&priority) {
        return Err(PluginError::invalid_input(format!(
            "`{priority}` is not a priority"
        )));
    }
    if query("crm.customer_by_code")
        .param("code", code)
        .fetch_optional::<Customer>()?
        .is_none()
    {
        return Err(PluginError::not_found(format!("customer {code} not found")));
    }
    let next = query("crm.max_ticket_number")
        .fetch_optional::<MaxNumber>()?
        .and_then(|m| m.max_n)
        .unwrap_or(1000)
        + 1;
    let id = format!("TCK-{next}");
    query("crm.insert_ticket")
        .param("id", id.as_str())
        .param("code", code)
        .param("subject", subject)
        .param("priority", priority)
        .param("created_at", now())
        .param("created_by", action.user_id.as_str())
        .rows()?;
    Ok(ActionResult::text(format!("Opened ticket {id} for {code}: \"{subject}\" ({priority}).")).data(json!({
        "ticket_id": id, "customer_id": code, "subject": subject, "priority": priority, "status": "open",
    })))
}

fn execute_update_contact(action: &ActionRequest) -> Result<ActionResult, PluginError> {
    let code = action.param_str("customer")?;
    let email = action.parameters.get("email").and_then(|v| v.as_str());
    let phone = action.parameters.get("phone").and_then(|v| v.as_str());
    if email.is_none() && phone.is_none() {
        return Err(PluginError::invalid_input(
            "nothing to change: give an email or a phone",
        ));
    }
    let rows = query("crm.update_contact")
        .param("code", code)
        .param("email", email)
        .param("phone", phone)
        .rows()?;
    let affected = rows
        .0
        .first()
        .and_then(|r| r.get("rows_affected"))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if affected == 0 {
        return Err(PluginError::not_found(format!("customer {code} not found")));
    }
    Ok(
        ActionResult::text(format!("Updated the contact details of {code}."))
            .data(json!({ "customer_id": code, "email": email, "phone": phone })),
    )
}

impl Plugin for Crm {
    fn manifest() -> Manifest {
        queries::manifest()
    }

    fn handle(request: Request) -> Result<Answer, PluginError> {
        match request.intent.as_str() {
            "crm.customer_profile" => customer_profile(&request),
            "crm.find_customer" => find(&request),
            "crm.top_customers" => top_customers(&request),
            "crm.customer_plan" => customer_plan(&request),
            "crm.open_tickets" => open_tickets(&request),
            "crm.create_ticket" => create_ticket(&request),
            "crm.update_contact" => update_contact(&request),
            other => Err(PluginError::invalid_input(format!(
                "crm does not handle `{other}`"
            ))),
        }
    }

    fn execute(action: ActionRequest) -> Result<ActionResult, PluginError> {
        match action.action.as_str() {
            "crm.create_ticket" => execute_create_ticket(&action),
            "crm.update_contact" => execute_update_contact(&action),
            other => Err(PluginError::invalid_input(format!(
                "crm has no action `{other}`"
            ))),
        }
    }
}

export_plugin!(Crm);
