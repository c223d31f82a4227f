//! Named queries: SQL the admin granted this plugin, run by the host with
//! the tenant bound from the authenticated request. A plugin passes
//! parameters, never SQL text.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::bindings::switchboard::plugin::host;
use crate::bindings::switchboard::plugin::types as wit;

/// A scalar parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// Text.
    Text(String),
}

macro_rules! value_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::$v(v.into()) }
        }
    )*};
}
value_from!(bool => Bool, i64 => Int, i32 => Int, u32 => Int, f64 => Float, String => Text, &str => Text);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    fn into_wit(self) -> wit::Value {
        match self {
            Value::Null => wit::Value::Null,
            Value::Bool(b) => wit::Value::Boolean(b),
            Value::Int(i) => wit::Value::Integer(i),
            Value::Float(f) => wit::Value::Float(f),
            Value::Text(s) => wit::Value::Text(s),
        }
    }

    fn from_wit(v: wit::Value) -> Json {
        match v {
            wit::Value::Null => Json::Null,
            wit::Value::Boolean(b) => Json::Bool(b),
            wit::Value::Integer(i) => Json::from(i),
            wit::Value::Float(f) => {
                serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
            }
            wit::Value::Text(s) => Json::String(s),
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The parameters do not fit the query (missing or unknown names).
    InvalidParams(String),
    /// The database failed; the message is safe to log.
    Failed(String),
    /// The rows could not be read into the requested type.
    Decode(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidParams(m) => write!(f, "invalid parameters: {m}"),
            Self::Failed(m) => write!(f, "query failed: {m}"),
            Self::Decode(m) => write!(f, "unexpected rows: {m}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Starts a call to the named query `name`.
///
/// ```ignore
/// let invoices: Vec<Invoice> = query("billing.invoices_by_customer")
///     .param("customer", "ABC123")
///     .fetch()?;
/// ```
pub fn query(name: &str) -> Query {
    Query {
        name: name.to_owned(),
        params: Vec::new(),
    }
}

/// A named-query call being built.
#[derive(Debug, Clone)]
pub struct Query {
    name: String,
    params: Vec<(String, Value)>,
}

impl Query {
    /// Binds `:name` in the query's SQL.
    pub fn param(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.push((name.to_owned(), value.into()));
        self
    }

    /// Runs the query and returns its rows as JSON objects.
    pub fn rows(self) -> Result<Rows, QueryError> {
        let params: Vec<(String, wit::Value)> = self
            .params
            .into_iter()
            .map(|(k, v)| (k, v.into_wit()))
            .collect();
        let result = host::query(&self.name, &params).map_err(|e| match e {
            host::QueryError::InvalidParams(m) => QueryError::InvalidParams(m),
            host::QueryError::Failed(m) => QueryError::Failed(m),
        })?;
        let rows = result
            .rows
            .into_iter()
            .map(|row| {
                result
                    .columns
                    .iter()
                    .cloned()
                    .zip(row.into_iter().map(Value::from_wit))
                    .collect::<Map<String, Json>>()
            })
            .collect();
        Ok(Rows(rows))
    }

    /// Runs the query and reads each row into a `T` (column names are
    /// field names).
    pub fn fetch<T: DeserializeOwned>(self) -> Result<Vec<T>, QueryError> {
        self.rows()?.into_typed()
    }

    /// Runs the query and reads its first row, if any.
    pub fn fetch_optional<T: DeserializeOwned>(self) -> Result<Option<T>, QueryError> {
        Ok(self.fetch::<T>()?.into_iter().next())
    }
}

/// Rows as JSON objects keyed by column name.
#[derive(Debug, Clone, Default)]
pub struct Rows(pub Vec<Map<String, Json>>);

impl Rows {
    /// Reads each row into a `T`.
    pub fn into_typed<T: DeserializeOwned>(self) -> Result<Vec<T>, QueryError> {
        self.0
            .into_iter()
            .map(|row| {
                serde_json::from_value(Json::Object(row))
                    .map_err(|e| QueryError::Decode(e.to_string()))
            })
            .collect()
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
