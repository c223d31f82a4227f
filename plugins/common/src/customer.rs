//! Finding the customer a question is about.

use serde::Deserialize;
use serde_json::json;
use switchboard_plugin_sdk::{Answer, Entities, PluginError, Request, SuggestedAction, query};

/// A customer row as the core plugins read it.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    /// Account code, e.g. `ABC123`.
    pub account_code: String,
    /// Person's or company's name.
    pub name: String,
    /// Email, if known.
    pub email: Option<String>,
    /// Phone, if known.
    pub phone: Option<String>,
    /// Plan code.
    pub plan_code: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// `active`, `suspended`, ...
    pub status: String,
}

impl Customer {
    /// `John Smith (ABC123)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.account_code)
    }

    /// The customer as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "customer_id": self.account_code,
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "plan": self.plan_code,
            "region": self.region,
            "status": self.status,
        })
    }
}

/// The names of a plugin's two customer queries. Both select the columns
/// of [`Customer`]; `by_code` takes `:code`, `by_name` takes `:pattern`
/// (a lower-case `LIKE` pattern).
#[derive(Debug, Clone, Copy)]
pub struct CustomerQueries {
    /// Query by account code.
    pub by_code: &'static str,
    /// Query by name pattern.
    pub by_name: &'static str,
}

/// The outcome of a lookup.
#[derive(Debug, Clone)]
pub enum CustomerLookup {
    /// Exactly one customer.
    Found(Customer),
    /// Nobody matches; the answer says so.
    NotFound(Answer),
    /// More than one matches; the answer offers the candidates.
    Ambiguous(Answer),
    /// The question names no customer; the answer asks for one.
    Missing(Answer),
}

fn not_found(what: &str, value: &str, intent: &str) -> Answer {
    Answer::text(format!(
        "I couldn't find a customer {what} {value}. Check the spelling, or search by name, email or phone."
    ))
    .data(json!({ "error": "customer_not_found", "query": value, "intent": intent }))
    .suggest(SuggestedAction::new(
        "crm.find_customer",
        json!({ "customer_name": value }),
        "Search customers",
    ))
}

/// Titles a name may come with when it does not come from the embedded NLU
/// (which leaves them out): from an AI service or the `call` command.
/// Customer records hold names without them.
const TITLES: [&str; 7] = ["mr", "mrs", "ms", "mx", "miss", "dr", "prof"];

/// `name` trimmed and without a leading title: "Dr. Rajesh Iyer" gives
/// "Rajesh Iyer". A title alone is left as it is.
pub fn without_title(name: &str) -> &str {
    let name = name.trim();
    match name.split_once(char::is_whitespace) {
        Some((first, rest))
            if TITLES.contains(&first.trim_end_matches('.').to_lowercase().as_str())
                && !rest.trim().is_empty() =>
        {
            rest.trim()
        }
        _ => name,
    }
}

/// The `LIKE` pattern the name queries take for `name` (lower case, without
/// a title).
pub fn name_pattern(name: &str) -> String {
    format!("%{}%", without_title(name).to_lowercase())
}

/// Finds the customer named by the `customer` (account code) or
/// `customer_name` entity. `intent` is repeated in suggestions so the agent
/// can pick a candidate and re-ask.
pub fn find_customer(
    entities: &Entities,
    queries: CustomerQueries,
    intent: &str,
) -> Result<CustomerLookup, PluginError> {
    if let Some(code) = entities.get("customer") {
        let found = query(queries.by_code)
            .param("code", code)
            .fetch_optional::<Customer>()?;
        return Ok(match found {
            Some(c) => CustomerLookup::Found(c),
            None => CustomerLookup::NotFound(not_found("with account code", code, intent)),
        });
    }
    if let Some(name) = entities.get("customer_name") {
        let bare = without_title(name);
        let mut matches = query(queries.by_name)
            .param("pattern", name_pattern(name))
            .fetch::<Customer>()?;
        let exact: Vec<Customer> = matches
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(bare))
            .cloned()
            .collect();
        if !exact.is_empty() {
            matches = exact;
        }
        return Ok(match matches.len() {
            0 => CustomerLookup::NotFound(not_found("named", name, intent)),
            1 => CustomerLookup::Found(matches.remove(0)),
            n => {
                let list: Vec<String> = matches.iter().map(Customer::label).collect();
                let mut answer = Answer::text(format!(
                    "{n} customers match \"{name}\": {}. Which one do you mean?",
                    list.join(", ")
                ))
                .data(json!({
                    "error": "ambiguous_customer",
                    "query": name,
                    "candidates": matches.iter().map(Customer::to_json).collect::<Vec<_>>(),
                }));
                for c in &matches {
                    answer = answer.suggest(SuggestedAction::new(
                        intent,
                        json!({ "customer": c.account_code }),
                        format!("Use {}", c.label()),
                    ));
                }
                CustomerLookup::Ambiguous(answer)
            }
        });
    }
    Ok(CustomerLookup::Missing(
        Answer::text("Which customer? Give me an account code (like ABC123) or the customer's name.")
            .data(json!({ "error": "missing_entity", "missing": ["customer", "customer_name"], "intent": intent })),
    ))
}

/// The customer a request is about, or the helpful answer to give instead
/// (not found, ambiguous, or no customer named).
pub fn require_customer(
    request: &Request,
    queries: CustomerQueries,
) -> Result<Result<Customer, Answer>, PluginError> {
    Ok(
        match find_customer(&request.entities, queries, &request.intent)? {
            CustomerLookup::Found(c) => Ok(c),
            CustomerLookup::NotFound(a)
            | CustomerLookup::Ambiguous(a)
            | CustomerLookup::Missing(a) => Err(a),
        },
    )
}
