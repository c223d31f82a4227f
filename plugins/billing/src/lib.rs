//! The core billing plugin: invoices, balances, payments, revenue, and
//! generating an invoice (an action, written only once an agent confirms).
//!
//! `structured_data` shapes, per intent:
//! - `billing.customer_invoices`: `{"customer_id", "invoices": [{"invoice_id", "amount", "status", "date"}]}`
//! - `billing.invoice_details`: `{"invoice_id", "customer_id", "customer_name", "amount", "status", "date", "due_date", "payments": [{"payment_id", "amount", "date", "method"}]}`
//! - `billing.balance`: `{"customer_id", "customer_name", "balance", "open_invoices", "oldest_due_date"}`
//! - `billing.overdue_invoices`: `{"region", "min_amount", "total", "invoices": [{"invoice_id", "customer_id", "customer_name", "amount", "due_date", "region"}]}`
//! - `billing.payment_history`: `{"customer_id", "period", "payments": [{"payment_id", "invoice_id", "amount", "date", "method"}]}`
//! - `billing.revenue_summary`: `{"period": {"from", "to", "label"}, "region", "collected", "payments", "invoiced", "invoices", "outstanding"}`
//! - `billing.generate_invoice`: `{"customer_id", "amount", "date", "due_date", "plan"}` (the proposal)

mod queries;

use serde::Deserialize;
use switchboard_isp_common::{
    Customer, CustomerQueries, amount, money, parse_cents, plural, require_customer, resolve_period,
};
use switchboard_plugin_sdk::host::today;
use switchboard_plugin_sdk::prelude::*;

const CUSTOMERS: CustomerQueries = CustomerQueries {
    by_code: "billing.customer_by_code",
    by_name: "billing.customers_by_name",
};

struct Billing;

#[derive(Deserialize)]
struct Invoice {
    invoice_id: String,
    account_code: String,
    amount_cents: i64,
    status: String,
    issued_on: String,
    due_on: String,
}

#[derive(Deserialize)]
struct OverdueRow {
    invoice_id: String,
    account_code: String,
    name: String,
    region: Option<String>,
    amount_cents: i64,
    due_on: String,
}

#[derive(Deserialize)]
struct Payment {
    payment_id: String,
    invoice_id: Option<String>,
    amount_cents: i64,
    paid_on: String,
    method: String,
}

#[derive(Deserialize)]
struct Sum {
    total: Option<i64>,
    n: i64,
}

#[derive(Deserialize)]
struct Price {
    monthly_cents: i64,
    name: String,
}

#[derive(Deserialize)]
struct MaxNumber {
    max_n: Option<i64>,
}

fn invoice_json(i: &Invoice) -> serde_json::Value {
    json!({ "invoice_id": i.invoice_id, "amount": amount(i.amount_cents), "status": i.status, "date": i.issued_on })
}

fn customer_invoices(request: &Request) -> Result<Answer, PluginError> {
    let customer = match require_customer(request, CUSTOMERS)? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let mut invoices: Vec<Invoice> = query("billing.invoices_by_customer")
        .param("code", customer.account_code.as_str())
        .fetch()?;
    let status = request.entities.get("status");
    if let Some(status) = status {
        invoices.retain(|i| match status {
            "unpaid" => i.status != "paid",
            s => i.status == s,
        });
    }
    let mut note = String::new();
    if let Some(text) = request.entities.get("period") {
        match resolve_period(text, &today()) {
            Some(p) => invoices.retain(|i| i.issued_on >= p.from && i.issued_on <= p.to),
            None => {
                note = format!(" (I didn't understand the period \"{text}\", so I show all dates)")
            }
        }
    }
    let what = match status {
        Some(s) => format!("{s} invoices"),
        None => "invoices".to_owned(),
    };
    let text = if invoices.is_empty() {
        format!("{} has no {what}{note}.", customer.label())
    } else {
        let line = |i: &Invoice| {
            format!(
                "{} for {} ({}, {})",
                i.invoice_id,
                money(i.amount_cents),
                i.status,
                i.issued_on
            )
        };
        let open: Vec<&Invoice> = invoices.iter().filter(|i| i.status != "paid").collect();
        let owed: i64 = open.iter().map(|i| i.amount_cents).sum();
        if invoices.len() <= 6 {
            let lines: Vec<String> = invoices.iter().map(line).collect();
            format!(
                "{} has {}{note}: {}.",
                customer.label(),
                plural(invoices.len(), &what.replace("invoices", "invoice"), &what),
                lines.join("; ")
            )
        } else {
            let recent: Vec<String> = invoices.iter().rev().take(5).map(line).collect();
            format!(
                "{} has {}{note}, {} unpaid ({} outstanding). Most recent: {}.",
                customer.label(),
                plural(invoices.len(), &what.replace("invoices", "invoice"), &what),
                open.len(),
                money(owed),
                recent.join("; ")
            )
        }
    };
    let mut answer = Answer::text(text).data(json!({
        "customer_id": customer.account_code,
        "invoices": invoices.iter().map(invoice_json).collect::<Vec<_>>(),
    }));
    if invoices.iter().any(|i| i.status != "paid") {
        answer = answer.suggest(SuggestedAction::new(
            "billing.balance",
            json!({ "customer": customer.account_code }),
            "Show the outstanding balance",
        ));
    }
    Ok(answer
        .suggest(SuggestedAction::new(
            "billing.payment_history",
            json!({ "customer": customer.account_code }),
            "Show payment history",
        ))
        .suggest(SuggestedAction::new(
            "billing.generate_invoice",
            json!({ "customer": customer.account_code }),
            "Generate a new invoice",
        )))
}

fn invoice_details(request: &Request) -> Result<Answer, PluginError> {
    let Some(id) = request.entities.get("invoice") else {
        return Ok(
            Answer::text("Which invoice? Give me its number, like INV-2025-001.")
                .data(json!({ "error": "missing_entity", "missing": ["invoice"] })),
        );
    };
    let Some(invoice) = query("billing.invoice_by_id")
        .param("id", id)
        .fetch_optional::<Invoice>()?
    else {
        return Ok(Answer::text(format!("I couldn't find invoice {id}."))
            .data(json!({ "error": "invoice_not_found", "invoice_id": id })));
    };
    let payments: Vec<Payment> = query("billing.payments_by_invoice")
        .param("id", id)
        .fetch()?;
    let customer = query("billing.customer_by_code")
        .param("code", invoice.account_code.as_str())
        .fetch_optional::<Customer>()?;
    let name = customer
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let paid: i64 = payments.iter().map(|p| p.amount_cents).sum();
    let mut text = format!(
        "Invoice {} for {} ({}): {}, {}, issued {}, due {}.",
        invoice.invoice_id,
        name,
        invoice.account_code,
        money(invoice.amount_cents),
        invoice.status,
        invoice.issued_on,
        invoice.due_on
    );
    if !payments.is_empty() {
        text.push_str(&format!(" Payments received: {}.", money(paid)));
    }
    let mut answer = Answer::text(text).data(json!({
        "invoice_id": invoice.invoice_id,
        "customer_id": invoice.account_code,
        "customer_name": name,
        "amount": amount(invoice.amount_cents),
        "status": invoice.status,
        "date": invoice.issued_on,
        "due_date": invoice.due_on,
        "payments": payments.iter().map(|p| json!({
            "payment_id": p.payment_id, "amount": amount(p.amount_cents), "date": p.paid_on, "method": p.method,
        })).collect::<Vec<_>>(),
    }));
    answer = answer.suggest(SuggestedAction::new(
        "billing.customer_invoices",
        json!({ "customer": invoice.account_code }),
        "Show all of this customer's invoices",
    ));
    if invoice.status != "paid" {
        answer = answer.suggest(SuggestedAction::new(
            "crm.create_ticket",
            json!({ "customer": invoice.account_code, "subject": format!("Payment follow-up for {}", invoice.invoice_id) }),
            "Open a payment follow-up ticket",
        ));
    }
    Ok(answer)
}

fn balance(request: &Request) -> Result<Answer, PluginError> {
    let customer = match require_customer(request, CUSTOMERS)? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let invoices: Vec<Invoice> = query("billing.invoices_by_customer")
        .param("code", customer.account_code.as_str())
        .fetch()?;
    let open: Vec<&Invoice> = invoices.iter().filter(|i| i.status != "paid").collect();
    let total: i64 = open.iter().map(|i| i.amount_cents).sum();
    let oldest = open.iter().map(|i| i.due_on.as_str()).min();
    let text = if open.is_empty() {
        format!(
            "{} has no outstanding balance: every invoice is paid.",
            customer.label()
        )
    } else {
        format!(
            "{} owes {} across {}; the oldest was due {}.",
            customer.label(),
            money(total),
            plural(open.len(), "open invoice", "open invoices"),
            oldest.unwrap_or("-")
        )
    };
    let mut answer = Answer::text(text).data(json!({
        "customer_id": customer.account_code,
        "customer_name": customer.name,
        "balance": amount(total),
        "open_invoices": open.iter().map(|i| invoice_json(i)).collect::<Vec<_>>(),
        "oldest_due_date": oldest,
    }));
    if !open.is_empty() {
        answer = answer.suggest(SuggestedAction::new(
            "billing.customer_invoices",
            json!({ "customer": customer.account_code, "status": "unpaid" }),
            "List the unpaid invoices",
        ));
    }
    Ok(answer.suggest(SuggestedAction::new(
        "billing.payment_history",
        json!({ "customer": customer.account_code }),
        "Show payment history",
    )))
}

fn overdue_invoices(request: &Request) -> Result<Answer, PluginError> {
    let region = request.entities.get("region");
    let min_cents = request
        .entities
        .get("min_amount")
        .and_then(parse_cents)
        .unwrap_or(0);
    let rows: Vec<OverdueRow> = query("billing.overdue_invoices")
        .param("region", region)
        .param("min_cents", min_cents)
        .fetch()?;
    let total: i64 = rows.iter().map(|r| r.amount_cents).sum();
    let scope = match (region, min_cents) {
        (Some(r), 0) => format!(" in the {r} region"),
        (Some(r), m) => format!(" in the {r} region over {}", money(m)),
        (None, 0) => String::new(),
        (None, m) => format!(" over {}", money(m)),
    };
    let text = if rows.is_empty() {
        format!("There are no overdue invoices{scope}.")
    } else {
        let top: Vec<String> = rows
            .iter()
            .take(5)
            .map(|r| {
                format!(
                    "{} {} ({}, due {})",
                    r.invoice_id,
                    money(r.amount_cents),
                    r.name,
                    r.due_on
                )
            })
            .collect();
        format!(
            "{}{scope} totalling {}. Largest: {}.",
            plural(rows.len(), "overdue invoice", "overdue invoices"),
            money(total),
            top.join("; ")
        )
    };
    let mut answer = Answer::text(text).data(json!({
        "region": region,
        "min_amount": (min_cents > 0).then(|| amount(min_cents)),
        "total": amount(total),
        "invoices": rows.iter().map(|r| json!({
            "invoice_id": r.invoice_id, "customer_id": r.account_code, "customer_name": r.name,
            "amount": amount(r.amount_cents), "due_date": r.due_on, "region": r.region,
        })).collect::<Vec<_>>(),
    }));
    if let Some(first) = rows.first() {
        answer = answer.suggest(SuggestedAction::new(
            "crm.create_ticket",
            json!({ "customer": first.account_code, "subject": format!("Overdue invoice {}", first.invoice_id) }),
            format!("Open a collections ticket for {}", first.name),
        ));
    }
    Ok(answer)
}

fn payment_history(request: &Request) -> Result<Answer, PluginError> {
    let customer = match require_customer(request, CUSTOMERS)? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let mut payments: Vec<Payment> = query("billing.payments_by_customer")
        .param("code", customer.account_code.as_str())
        .fetch()?;
    let mut label = None;
    let mut note = String::new();
    if let Some(text) = request.entities.get("period") {
        match resolve_period(text, &today()) {
            Some(p) => {
                payments.retain(|x| x.paid_on >= p.from && x.paid_on <= p.to);
                label = Some(p.label);
            }
            None => {
                note = format!(" (I didn't understand the period \"{text}\", so I show all dates)")
            }
        }
    }
    let total: i64 = payments.iter().map(|p| p.amount_cents).sum();
    let when = label
        .as_ref()
        .map(|l| format!(" in {l}"))
        .unwrap_or_default();
    let text = if payments.is_empty() {
        format!("{} made no payments{when}{note}.", customer.label())
    } else {
        let lines: Vec<String> = payments
            .iter()
            .take(10)
            .map(|p| format!("{} on {} by {}", money(p.amount_cents), p.paid_on, p.method))
            .collect();
        format!(
            "{} made {}{when} totalling {}{note}: {}.",
            customer.label(),
            plural(payments.len(), "payment", "payments"),
            money(total),
            lines.join("; ")
        )
    };
    Ok(Answer::text(text)
        .data(json!({
            "customer_id": customer.account_code,
            "period": label,
            "total": amount(total),
            "payments": payments.iter().map(|p| json!({
                "payment_id": p.payment_id, "invoice_id": p.invoice_id, "amount": amount(p.amount_cents),
                "date": p.paid_on, "method": p.method,
            })).collect::<Vec<_>>(),
        }))
        .suggest(SuggestedAction::new(
            "billing.balance",
            json!({ "customer": customer.account_code }),
            "Show the outstanding balance",
        )))
}

fn revenue_summary(request: &Request) -> Result<Answer, PluginError> {
    let today = today();
    let period = request
        .entities
        .get("period")
        .and_then(|t| resolve_period(t, &today))
        .or_else(|| resolve_period("last 12 months", &today))
        .ok_or_else(|| PluginError::internal("cannot read today's date"))?;
    let region = request.entities.get("region");
    let collected: Sum = query("billing.revenue_collected")
        .param("from", period.from.as_str())
        .param("to", period.to.as_str())
        .param("region", region)
        .fetch_optional()?
        .unwrap_or(Sum { total: None, n: 0 });
    let invoiced: Sum = query("billing.revenue_invoiced")
        .param("from", period.from.as_str())
        .param("to", period.to.as_str())
        .param("region", region)
        .fetch_optional()?
        .unwrap_or(Sum { total: None, n: 0 });
    let outstanding: Sum = query("billing.outstanding_total")
        .param("region", region)
        .fetch_optional()?
        .unwrap_or(Sum { total: None, n: 0 });
    let scope = region
        .map(|r| format!(" in the {r} region"))
        .unwrap_or_default();
    let text = format!(
        "Revenue for {}{scope}: {} collected from {}; {} invoiced across {}. Outstanding now: {}.",
        period.label,
        money(collected.total.unwrap_or(0)),
        plural(collected.n as usize, "payment", "payments"),
        money(invoiced.total.unwrap_or(0)),
        plural(invoiced.n as usize, "invoice", "invoices"),
        money(outstanding.total.unwrap_or(0)),
    );
    Ok(Answer::text(text)
        .data(json!({
            "period": { "from": period.from, "to": period.to, "label": period.label },
            "region": region,
            "collected": amount(collected.total.unwrap_or(0)),
            "payments": collected.n,
            "invoiced": amount(invoiced.total.unwrap_or(0)),
            "invoices": invoiced.n,
            "outstanding": amount(outstanding.total.unwrap_or(0)),
        }))
        .suggest(SuggestedAction::new(
            "billing.overdue_invoices",
            json!({ "region": region }),
            "List overdue invoices",
        )))
}

fn add_days(date: &str, days: u32) -> String {
    // Simple and exact enough for a due date: walk the calendar.
    let mut y: i32 = date.get(0..4).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let mut m: u32 = date.get(5..7).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut d: u32 = date.get(8..10).and_then(|s| s.parse().ok()).unwrap_or(1);
    for _ in 0..days {
        let dim = match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        d += 1;
        if d > dim {
            d = 1;
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
    }
    format!("{y:04}-{m:02}-{d:02}")
}

fn generate_invoice(request: &Request) -> Result<Answer, PluginError> {
    let customer = match require_customer(request, CUSTOMERS)? {
        Ok(c) => c,
        Err(answer) => return Ok(answer),
    };
    let Some(plan) = customer.plan_code.clone() else {
        return Ok(Answer::text(format!(
            "{} has no plan, so I can't price an invoice.",
            customer.label()
        ))
        .data(json!({ "error": "no_plan", "customer_id": customer.account_code })));
    };
    let Some(price) = query("billing.plan_price")
        .param("plan", plan.as_str())
        .fetch_optional::<Price>()?
    else {
        return Ok(
            Answer::text(format!("Plan {plan} of {} has no price.", customer.label()))
                .data(json!({ "error": "no_price", "customer_id": customer.account_code })),
        );
    };
    let today = today();
    let due = add_days(&today, 30);
    let summary = format!(
        "Create an invoice of {} for {} ({} plan), dated {today}, due {due}",
        money(price.monthly_cents),
        customer.label(),
        price.name
    );
    Ok(Answer::text(format!("{summary}. Confirm to create it."))
        .data(json!({
            "customer_id": customer.account_code,
            "amount": amount(price.monthly_cents),
            "date": today,
            "due_date": due,
            "plan": plan,
        }))
        .propose(ProposedAction::new(
            "billing.generate_invoice",
            json!({
                "customer": customer.account_code,
                "amount_cents": price.monthly_cents,
                "date": today,
                "due_date": due,
            }),
            summary,
        )))
}

fn execute_generate_invoice(action: &ActionRequest) -> Result<ActionResult, PluginError> {
    let code = action.param_str("customer")?;
    let date = action.param_str("date")?;
    let due = action.param_str("due_date")?;
    let cents = action
        .parameters
        .get("amount_cents")
        .and_then(|v| v.as_i64())
        .filter(|c| *c > 0)
        .ok_or_else(|| PluginError::invalid_input("missing or invalid parameter `amount_cents`"))?;
    if query("billing.customer_by_code")
        .param("code", code)
        .fetch_optional::<Customer>()?
        .is_none()
    {
        return Err(PluginError::not_found(format!("customer {code} not found")));
    }
    let year = date.get(0..4).unwrap_or("2000");
    let prefix = format!("INV-{year}-");
    let max: Option<MaxNumber> = query("billing.max_invoice_number")
        .param("pattern", format!("{prefix}%"))
        .fetch_optional()?;
    let next = max.and_then(|m| m.max_n).unwrap_or(0) + 1;
    let id = format!("{prefix}{next:03}");
    query("billing.insert_invoice")
        .param("id", id.as_str())
        .param("code", code)
        .param("cents", cents)
        .param("issued", date)
        .param("due", due)
        .rows()?;
    log_info(
        "invoice generated",
        &[
            ("invoice", &id),
            ("customer", code),
            ("by", &action.user_id),
        ],
    );
    Ok(ActionResult::text(format!("Created invoice {id} for {code}: {}, due {due}.", money(cents)))
        .data(json!({ "invoice_id": id, "customer_id": code, "amount": amount(cents), "status": "unpaid", "date": date, "due_date": due })))
}

impl Plugin for Billing {
    fn manifest() -> Manifest {
        queries::manifest()
    }

    fn handle(request: Request) -> Result<Answer, PluginError> {
        match request.intent.as_str() {
            "billing.customer_invoices" => customer_invoices(&request),
            "billing.invoice_details" => invoice_details(&request),
            "billing.balance" => balance(&request),
            "billing.overdue_invoices" => overdue_invoices(&request),
            "billing.payment_history" => payment_history(&request),
            "billing.revenue_summary" => revenue_summary(&request),
            "billing.generate_invoice" => generate_invoice(&request),
            other => Err(PluginError::invalid_input(format!(
                "billing does not handle `{other}`"
            ))),
        }
    }

    fn execute(action: ActionRequest) -> Result<ActionResult, PluginError> {
        match action.action.as_str() {
            "billing.generate_invoice" => execute_generate_invoice(&action),
            other => Err(PluginError::invalid_input(format!(
                "billing has no action `{other}`"
            ))),
        }
    }
}

export_plugin!(Billing);

#[cfg(test)]
mod tests {
    #[test]
    fn add_days_crosses_months_and_years() {
        assert_eq!(super::add_days("2026-11-25", 30), "2026-12-25");
        assert_eq!(super::add_days("2026-12-15", 30), "2027-01-14");
        assert_eq!(super::add_days("2024-02-20", 10), "2024-03-01");
    }
}
