//! The other host services: structured logging, the clock, and outgoing
//! HTTP to hosts the admin allowed.

use crate::bindings::switchboard::plugin::host;

fn log(level: host::LogLevel, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    host::log(level, message, &fields);
}

/// Logs at debug level with key/value fields.
pub fn log_debug(message: &str, fields: &[(&str, &str)]) {
    log(host::LogLevel::Debug, message, fields);
}

/// Logs at info level with key/value fields.
pub fn log_info(message: &str, fields: &[(&str, &str)]) {
    log(host::LogLevel::Info, message, fields);
}

/// Logs at warn level with key/value fields.
pub fn log_warn(message: &str, fields: &[(&str, &str)]) {
    log(host::LogLevel::Warn, message, fields);
}

/// Logs at error level with key/value fields.
pub fn log_error(message: &str, fields: &[(&str, &str)]) {
    log(host::LogLevel::Error, message, fields);
}

/// The current time in UTC, RFC 3339 (`2026-11-25T10:00:00Z`). Use this
/// rather than the system clock: it is the one the host vouches for.
pub fn now() -> String {
    host::now()
}

/// The current date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    now().chars().take(10).collect()
}

/// An HTTP response from [`fetch`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends an HTTP request. The host refuses any host the admin did not list
/// for this plugin in `switchboard.toml` (`http_hosts`).
pub fn fetch(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, String> {
    let request = host::HttpRequest {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    host::http_fetch(&request).map(|r| HttpResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
    })
}
