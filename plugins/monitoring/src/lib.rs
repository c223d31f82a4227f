//! The core network-monitoring plugin: outages, a customer's connection and
//! usage, network health by region, and device status.
//!
//! `structured_data` shapes, per intent:
//! - `monitoring.outages`: `{"region", "outages": [{"outage_id", "region", "status", "severity", "description", "started_at", "affected_customers"}]}`
//! - `monitoring.connection_status`: `{"customer_id", "online", "devices": [{"device_id", "kind", "status", "last_seen"}], "outages": [...]}`
//! - `monitoring.usage`: `{"customer_id", "period", "data_cap_gb", "months": [{"month", "download_gb", "upload_gb"}], "total_gb"}`
//! - `monitoring.network_health`: `{"region", "regions": [{"region", "devices", "online", "degraded", "offline", "availability", "active_outages"}]}`
//! - `monitoring.device_status`: `{"device_id", "kind", "region", "status", "last_seen", "customer_id"}`

mod queries;

use serde::Deserialize;
use switchboard_isp_common::{CustomerQueries, plural, require_customer, resolve_period};
use switchboard_plugin_sdk::host::today;
use switchboard_plugin_sdk::prelude::*;

const CUSTOMERS: CustomerQueries = CustomerQueries {
    by_code: "monitoring.customer_by_code",
    by_name: "monitoring.customers_by_name",
};

struct Monitoring;

#[derive(Deserialize)]
struct Outage {
    outage_id: String,
    region: String,
    status: String,
    severity: String,
    description: String,
    started_at: String,
    affected_customers: i64,
}

#[derive(Deserialize)]
struct Device {
    device_id: String,
    account_code: Option<String>,
    kind: String,
    region: String,
    status: String,
    last_seen: String,
}

#[derive(Deserialize)]
struct Usage {
    month: String,
    download_gb: f64,
    upload_gb: f64,
}

#[derive(Deserialize)]
struct Cap {
    data_cap_gb: Option<i64>,
}

#[derive(Deserialize)]
struct Health {
    region: String,
    devices: i64,
    online: i64,
    degraded: i64,
    offline: i64,
}

macro_rules! customer {
    ($request:expr) => {
        match require_customer($request, CUSTOMERS)? {
            Ok(c) => c,
            Err(answer) => return Ok(answer),
        }
    };
}

fn outage_json(o: &Outage) -> serde_json::Value {
    json!({
        "outage_id": o.outage_id, "region": o.region, "status": o.status, "severity": o.severity,
        "description": o.description, "started_at": o.started_at, "affected_customers": o.affected_customers,
    })
}

fn device_json(d: &Device) -> serde_json::Value {
    json!({
        "device_id": d.device_id, "kind": d.kind, "region": d.region, "status": d.status,
        "last_seen": d.last_seen, "customer_id": d.account_code,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn outages(request: &Request) -> Result<Answer, PluginError> {
    let region = request.entities.get("region");
    let rows: Vec<Outage> = query("monitoring.active_outages")
        .param("region", region)
        .fetch()?;
    let scope = region
        .map(|r| format!(" in the {r} region"))
        .unwrap_or_default();
    let text = if rows.is_empty() {
        format!("No active outages{scope}. The network is running normally.")
    } else {
        let lines: Vec<String> = rows
            .iter()
            .map(|o| {
                format!(
                    "{} ({}, {} severity): {}, since {}, {} customers affected",
                    o.outage_id,
                    o.region,
                    o.severity,
                    o.description,
                    o.started_at,
                    o.affected_customers
                )
            })
            .collect();
        format!(
            "{}{scope}: {}.",
            plural(rows.len(), "active outage", "active outages"),
            lines.join("; ")
        )
    };
    let mut answer = Answer::text(text).data(json!({
        "region": region,
        "outages": rows.iter().map(outage_json).collect::<Vec<_>>(),
    }));
    answer = answer.suggest(SuggestedAction::new(
        "monitoring.network_health",
        json!({ "region": region }),
        "Show network health",
    ));
    Ok(answer)
}

fn connection_status(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let devices: Vec<Device> = query("monitoring.devices_by_customer")
        .param("code", c.account_code.as_str())
        .fetch()?;
    let region_outages: Vec<Outage> = match &c.region {
        Some(r) => query("monitoring.active_outages")
            .param("region", r.as_str())
            .fetch()?,
        None => Vec::new(),
    };
    let online = !devices.is_empty() && devices.iter().any(|d| d.status == "online");
    let mut text = if devices.is_empty() {
        format!("{} has no monitored devices.", c.label())
    } else {
        let lines: Vec<String> = devices
            .iter()
            .map(|d| {
                format!(
                    "{} ({}) is {}, last seen {}",
                    d.device_id, d.kind, d.status, d.last_seen
                )
            })
            .collect();
        format!(
            "{} is {}: {}.",
            c.label(),
            if online { "online" } else { "offline" },
            lines.join("; ")
        )
    };
    if let Some(o) = region_outages.first() {
        text.push_str(&format!(
            " Note: outage {} in the {} region ({}) may affect this customer.",
            o.outage_id, o.region, o.description
        ));
    }
    let mut answer = Answer::text(text).data(json!({
        "customer_id": c.account_code,
        "online": online,
        "devices": devices.iter().map(device_json).collect::<Vec<_>>(),
        "outages": region_outages.iter().map(outage_json).collect::<Vec<_>>(),
    }));
    if !online {
        answer = answer.suggest(SuggestedAction::new(
            "crm.create_ticket",
            json!({ "customer": c.account_code, "subject": "No internet connection" }),
            "Open a fault ticket",
        ));
    }
    for d in devices.iter().take(3) {
        answer = answer.suggest(SuggestedAction::new(
            "monitoring.device_status",
            json!({ "device": d.device_id }),
            format!("Check device {}", d.device_id),
        ));
    }
    Ok(answer)
}

fn usage(request: &Request) -> Result<Answer, PluginError> {
    let c = customer!(request);
    let today = today();
    let period = request
        .entities
        .get("period")
        .and_then(|p| resolve_period(p, &today))
        .or_else(|| resolve_period("last 3 months", &today));
    let from_month = period
        .as_ref()
        .map_or_else(String::new, |p| p.from[..7].to_owned());
    let to_month = period
        .as_ref()
        .map_or_else(|| "9999-12".to_owned(), |p| p.to[..7].to_owned());
    let rows: Vec<Usage> = query("monitoring.usage")
        .param("code", c.account_code.as_str())
        .param("from", from_month.as_str())
        .param("to", to_month.as_str())
        .fetch()?;
    let cap = match &c.plan_code {
        Some(p) => query("monitoring.plan_cap")
            .param("plan", p.as_str())
            .fetch_optional::<Cap>()?
            .and_then(|c| c.data_cap_gb),
        None => None,
    };
    let total: f64 = rows.iter().map(|u| u.download_gb + u.upload_gb).sum();
    let label = period
        .as_ref()
        .map_or_else(|| "all time".to_owned(), |p| p.label.clone());
    let text = if rows.is_empty() {
        format!("No usage recorded for {} in {label}.", c.label())
    } else {
        let lines: Vec<String> = rows
            .iter()
            .map(|u| {
                let used = u.download_gb + u.upload_gb;
                let over = cap.map_or(String::new(), |cap| {
                    if used > cap as f64 {
                        format!(" (over the {cap} GB cap)")
                    } else {
                        String::new()
                    }
                });
                format!(
                    "{}: {:.1} GB down, {:.1} GB up{over}",
                    u.month, u.download_gb, u.upload_gb
                )
            })
            .collect();
        format!(
            "Usage of {} in {label}: {}. Total {:.1} GB.",
            c.label(),
            lines.join("; "),
            total
        )
    };
    Ok(Answer::text(text)
        .data(json!({
            "customer_id": c.account_code,
            "period": period.map(|p| json!({ "from": p.from, "to": p.to, "label": p.label })),
            "data_cap_gb": cap,
            "months": rows.iter().map(|u| json!({ "month": u.month, "download_gb": round1(u.download_gb), "upload_gb": round1(u.upload_gb) })).collect::<Vec<_>>(),
            "total_gb": round1(total),
        }))
        .suggest(SuggestedAction::new("crm.customer_plan", json!({ "customer": c.account_code }), "Show the plan")))
}

fn network_health(request: &Request) -> Result<Answer, PluginError> {
    let region = request.entities.get("region");
    let rows: Vec<Health> = query("monitoring.health_by_region")
        .param("region", region)
        .fetch()?;
    let outages: Vec<Outage> = query("monitoring.active_outages")
        .param("region", region)
        .fetch()?;
    let regions: Vec<serde_json::Value> = rows
        .iter()
        .map(|h| {
            let availability = if h.devices > 0 { round1(100.0 * h.online as f64 / h.devices as f64) } else { 100.0 };
            json!({
                "region": h.region, "devices": h.devices, "online": h.online, "degraded": h.degraded,
                "offline": h.offline, "availability": availability,
                "active_outages": outages.iter().filter(|o| o.region == h.region).count(),
            })
        })
        .collect();
    let text = if rows.is_empty() {
        format!(
            "No monitored devices{}.",
            region
                .map(|r| format!(" in the {r} region"))
                .unwrap_or_default()
        )
    } else {
        let lines: Vec<String> = rows
            .iter()
            .zip(&regions)
            .map(|(h, j)| {
                format!(
                    "{}: {}% of {} devices online ({} degraded, {} offline)",
                    h.region, j["availability"], h.devices, h.degraded, h.offline
                )
            })
            .collect();
        let status = if outages.is_empty() && rows.iter().all(|h| h.offline == 0) {
            "healthy"
        } else {
            "degraded"
        };
        format!(
            "Network is {status}. {}. {}.",
            lines.join("; "),
            plural(outages.len(), "active outage", "active outages")
        )
    };
    let mut answer = Answer::text(text).data(json!({ "region": region, "regions": regions }));
    if !outages.is_empty() {
        answer = answer.suggest(SuggestedAction::new(
            "monitoring.outages",
            json!({ "region": region }),
            "Show the outages",
        ));
    }
    Ok(answer)
}

fn device_status(request: &Request) -> Result<Answer, PluginError> {
    let Some(id) = request.entities.get("device") else {
        return Ok(
            Answer::text("Which device? Give me its name, like OLT-NORTH-01.")
                .data(json!({ "error": "missing_entity", "missing": ["device"] })),
        );
    };
    let Some(d) = query("monitoring.device")
        .param("id", id)
        .fetch_optional::<Device>()?
    else {
        return Ok(Answer::text(format!("I couldn't find device {id}."))
            .data(json!({ "error": "device_not_found", "device_id": id })));
    };
    let owner = d
        .account_code
        .as_ref()
        .map(|c| format!(", serving customer {c}"))
        .unwrap_or_default();
    let mut answer = Answer::text(format!(
        "{} ({} in the {} region) is {}, last seen {}{owner}.",
        d.device_id, d.kind, d.region, d.status, d.last_seen
    ))
    .data(device_json(&d));
    if d.status != "online" {
        answer = answer.suggest(SuggestedAction::new(
            "monitoring.outages",
            json!({ "region": d.region }),
            format!("Check outages in the {} region", d.region),
        ));
    }
    Ok(answer)
}

impl Plugin for Monitoring {
    fn manifest() -> Manifest {
        queries::manifest()
    }

    fn handle(request: Request) -> Result<Answer, PluginError> {
        match request.intent.as_str() {
            "monitoring.outages" => outages(&request),
            "monitoring.connection_status" => connection_status(&request),
            "monitoring.usage" => usage(&request),
            "monitoring.network_health" => network_health(&request),
            "monitoring.device_status" => device_status(&request),
            other => Err(PluginError::invalid_input(format!(
                "monitoring does not handle `{other}`"
            ))),
        }
    }
}

export_plugin!(Monitoring);
