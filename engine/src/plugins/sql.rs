//! Named queries: checking a plugin's SQL when it loads, and binding a
//! call's parameters (with the tenant forced by the host) when it runs.
//!
//! SQL uses `:name` parameters. At load time each query is rewritten to
//! positional `$1, $2, ...` (numbered by first appearance, which SQLite and
//! PostgreSQL both understand) and checked: one statement, every table
//! pinned to `:tenant_id` (see [`super::tenant_scope`]), and a read query
//! must start with `SELECT` or `WITH`.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Column, Row, TypeInfo, ValueRef};

use super::types::QueryAccess;

/// The parameter the host binds from the authenticated request.
pub const TENANT_PARAM: &str = "tenant_id";

/// A named query checked and ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedQuery {
    /// The query's name.
    pub name: String,
    /// Read or write.
    pub access: QueryAccess,
    /// The SQL with positional parameters.
    pub sql: String,
    /// Parameter names in positional order (`tenant_id` included).
    pub params: Vec<String>,
}

/// A scalar bound to, or read from, SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(String),
}

/// Rows of a query, by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SqlRows {
    /// Column names.
    pub columns: Vec<String>,
    /// Values, one vector per row.
    pub rows: Vec<Vec<SqlValue>>,
}

impl SqlRows {
    /// Approximate size in bytes, for output caps.
    pub fn approx_size(&self) -> usize {
        let cells: usize = self
            .rows
            .iter()
            .flatten()
            .map(|v| match v {
                SqlValue::Text(s) => s.len() + 8,
                _ => 16,
            })
            .sum();
        cells + self.columns.iter().map(String::len).sum::<usize>()
    }
}

/// A piece of SQL text: a `:name` parameter, or anything else.
enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

/// Splits `sql` into pieces, finding `:name` parameters outside literals
/// and comments. A second statement is an error.
fn scan(sql: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let bytes = sql.as_bytes();
    if sql.contains('\\') {
        // Anywhere, in a string too: PostgreSQL's E'...' strings escape
        // with it, so the string would end elsewhere than SQLite ends it.
        return Err(
            "uses a backslash, which PostgreSQL (in E'...' strings) and SQLite read differently"
                .to_owned(),
        );
    }
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let quote = bytes[i];
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if quote == b'"' && !bytes[i].is_ascii() {
                        return Err(
                            "uses a non-ASCII identifier, whose case the databases fold differently"
                                .to_owned(),
                        );
                    }
                    i += 1;
                }
                i += 1;
            }
            // SQLite and PostgreSQL read these differently (PostgreSQL nests
            // block comments and has `$tag$` strings; SQLite has `[name]`
            // and `$name` parameters), so the tenant check could be shown
            // one query and the database run another.
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                return Err(
                    "uses a /* block comment */, which SQLite and PostgreSQL end differently; use -- comments"
                        .to_owned(),
                );
            }
            b'$' | b'[' | b'`' | b'@' | b'?' => {
                return Err(format!(
                    "uses `{}` outside a string, which SQLite and PostgreSQL read differently; write parameters as :name",
                    bytes[i] as char
                ));
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b':' if bytes.get(i + 1) == Some(&b':') => i += 2,
            b':' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                return Err(
                    "uses `:<digit>`, which SQLite and PostgreSQL read differently; write parameters as :name"
                        .to_owned(),
                );
            }
            c if !c.is_ascii() => {
                return Err(
                    "uses non-ASCII characters outside strings, whose case the databases fold differently"
                        .to_owned(),
                );
            }
            b':' if bytes
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                pieces.push(Piece::Text(&sql[start..i]));
                let name_start = i + 1;
                let mut j = name_start;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                pieces.push(Piece::Param(&sql[name_start..j]));
                i = j;
                start = j;
            }
            b';' => {
                if !sql[i + 1..].trim().is_empty() {
                    return Err("holds more than one statement".to_owned());
                }
                pieces.push(Piece::Text(&sql[start..i]));
                start = bytes.len();
                i = bytes.len();
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        pieces.push(Piece::Text(&sql[start..]));
    }
    Ok(pieces)
}

fn first_keyword(sql: &str) -> String {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, tail)| tail).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, tail)| tail).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    rest.chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_uppercase()
}

const WRITE_WORDS: [&str; 10] = [
    "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "CREATE", "ATTACH", "PRAGMA", "REPLACE",
    "TRUNCATE",
];

/// Checks and prepares a named query.
pub fn prepare(name: &str, access: QueryAccess, sql: &str) -> Result<PreparedQuery, String> {
    let mut params: Vec<String> = Vec::new();
    let mut out = String::with_capacity(sql.len());
    for piece in scan(sql)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Param(param) => {
                let index = match params.iter().position(|p| p == param) {
                    Some(i) => i,
                    None => {
                        params.push(param.to_owned());
                        params.len() - 1
                    }
                };
                out.push_str(&format!("${}", index + 1));
            }
        }
    }
    if !params.iter().any(|p| p == TENANT_PARAM) {
        return Err(format!(
            "does not use `:{TENANT_PARAM}`; every query must be scoped to the caller's tenant"
        ));
    }
    let keyword = first_keyword(sql);
    if access == QueryAccess::Read {
        if keyword != "SELECT" && keyword != "WITH" {
            return Err(format!(
                "is declared read but starts with `{keyword}`; read queries start with SELECT or WITH"
            ));
        }
        let upper = sql.to_ascii_uppercase();
        if keyword == "WITH"
            && WRITE_WORDS.iter().any(|w| {
                upper
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .any(|t| t == *w)
            })
        {
            return Err("is declared read but contains a writing statement".to_owned());
        }
    } else if !["INSERT", "UPDATE", "DELETE", "WITH"].contains(&keyword.as_str()) {
        return Err(format!(
            "is a write query starting with `{keyword}`; allowed: INSERT, UPDATE, DELETE"
        ));
    }
    let tenant = params.iter().position(|p| p == TENANT_PARAM).unwrap_or(0);
    super::tenant_scope::check(&out, &format!("${}", tenant + 1))?;
    Ok(PreparedQuery {
        name: name.to_owned(),
        access,
        sql: out,
        params,
    })
}

impl PreparedQuery {
    /// Orders the call's parameters for binding, with the tenant forced.
    /// A missing or unknown parameter is an error naming it; the caller has
    /// already refused a `tenant_id` passed by the plugin.
    pub fn bind_order(
        &self,
        tenant: i64,
        given: &BTreeMap<String, SqlValue>,
    ) -> Result<Vec<SqlValue>, String> {
        if let Some(unknown) = given.keys().find(|k| !self.params.contains(k)) {
            return Err(format!(
                "query `{}` has no parameter `{unknown}`",
                self.name
            ));
        }
        self.params
            .iter()
            .map(|p| {
                if p == TENANT_PARAM {
                    Ok(SqlValue::Int(tenant))
                } else {
                    given
                        .get(p)
                        .cloned()
                        .ok_or_else(|| format!("query `{}` needs parameter `{p}`", self.name))
                }
            })
            .collect()
    }

    /// Whether the SQL returns rows (reads, or writes with `RETURNING`).
    pub fn returns_rows(&self) -> bool {
        self.access == QueryAccess::Read || self.sql.to_ascii_uppercase().contains("RETURNING")
    }
}

/// Builds an sqlx query with the values bound in order.
pub fn bind<'q>(
    sql: &'q str,
    values: Vec<SqlValue>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql);
    for value in values {
        query = match value {
            SqlValue::Null => query.bind(Option::<String>::None),
            SqlValue::Bool(b) => query.bind(b),
            SqlValue::Int(i) => query.bind(i),
            SqlValue::Float(f) => query.bind(f),
            SqlValue::Text(s) => query.bind(s),
        };
    }
    query
}

/// Reads rows of any shape into [`SqlRows`].
pub fn read_rows(rows: &[AnyRow]) -> Result<SqlRows, sqlx::Error> {
    let Some(first) = rows.first() else {
        return Ok(SqlRows::default());
    };
    let columns = first
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                values.push(SqlValue::Null);
                continue;
            }
            let kind = raw.type_info().name().to_ascii_uppercase();
            let value = match kind.as_str() {
                "BOOLEAN" | "BOOL" => SqlValue::Bool(row.try_get(i)?),
                "SMALLINT" | "INTEGER" | "BIGINT" | "INT" | "INT2" | "INT4" | "INT8" => {
                    SqlValue::Int(row.try_get(i)?)
                }
                "REAL" | "DOUBLE" | "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE PRECISION" => {
                    SqlValue::Float(row.try_get(i)?)
                }
                // No bytes type in the contract: read as (lossy) text, as
                // the direct SQLite path does.
                "BLOB" | "BYTEA" => SqlValue::Text(
                    String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(i)?).into_owned(),
                ),
                _ => SqlValue::Text(row.try_get(i)?),
            };
            values.push(value);
        }
        out.push(values);
    }
    Ok(SqlRows { columns, rows: out })
}

/// Runs a read `sql` with `values` bound in order on a direct SQLite
/// connection (see [`crate::store::direct`]) and reads its rows: columns
/// declared `BOOLEAN` as booleans, BLOBs as lossy text, other values by
/// their storage class. For every column sqlx's `Any` driver can decode,
/// that is what [`read_rows`] gives too (a test checks it); columns
/// declared `BOOLEAN` or `DATE` only read here, since that driver refuses
/// them on SQLite (it is only used there for in-memory databases).
pub fn read_sqlite(
    conn: &rusqlite::Connection,
    sql: &str,
    values: &[SqlValue],
) -> Result<SqlRows, rusqlite::Error> {
    use rusqlite::types::{ToSqlOutput, Value, ValueRef};
    let mut statement = conn.prepare_cached(sql)?;
    // Every parameter must be `$N` in order, so that binding by index binds
    // what the tenant check saw (the query text is checked at load; this is
    // a second line of defence).
    let in_order = statement.parameter_count() == values.len()
        && (1..=values.len())
            .all(|i| statement.parameter_name(i) == Some(format!("${i}").as_str()));
    if !in_order {
        return Err(rusqlite::Error::InvalidParameterCount(
            statement.parameter_count(),
            values.len(),
        ));
    }
    for (i, value) in values.iter().enumerate() {
        let bound = match value {
            SqlValue::Null => ToSqlOutput::Owned(Value::Null),
            SqlValue::Bool(b) => ToSqlOutput::Owned(Value::Integer(i64::from(*b))),
            SqlValue::Int(n) => ToSqlOutput::Owned(Value::Integer(*n)),
            SqlValue::Float(f) => ToSqlOutput::Owned(Value::Real(*f)),
            SqlValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        };
        statement.raw_bind_parameter(i + 1, bound)?;
    }
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let booleans: Vec<bool> = statement
        .columns()
        .iter()
        .map(|c| {
            c.decl_type().is_some_and(|t| {
                t.eq_ignore_ascii_case("BOOLEAN") || t.eq_ignore_ascii_case("BOOL")
            })
        })
        .collect();
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, boolean) in booleans.iter().enumerate() {
            values.push(match row.get_ref(i)? {
                ValueRef::Null => SqlValue::Null,
                ValueRef::Integer(n) if *boolean => SqlValue::Bool(n != 0),
                ValueRef::Integer(n) => SqlValue::Int(n),
                ValueRef::Real(f) => SqlValue::Float(f),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    SqlValue::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(values);
    }
    if out.is_empty() {
        // As from sqlx: no rows, no columns.
        return Ok(SqlRows::default());
    }
    Ok(SqlRows { columns, rows: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_named_parameters_by_first_appearance() {
        let q = prepare(
            "q",
            QueryAccess::Read,
            "SELECT * FROM t WHERE tenant_id = :tenant_id AND a = :a AND b = :a",
        )
        .unwrap();
        assert_eq!(
            q.sql,
            "SELECT * FROM t WHERE tenant_id = $1 AND a = $2 AND b = $2"
        );
        assert_eq!(q.params, vec!["tenant_id", "a"]);
    }

    #[test]
    fn ignores_literals_comments_and_casts() {
        let q = prepare(
            "q",
            QueryAccess::Read,
            "SELECT ':x', \":y\", '$[`', a::text -- :z /* $\nFROM t WHERE tenant_id = :tenant_id",
        )
        .unwrap();
        assert_eq!(q.params, vec!["tenant_id"]);
        assert!(q.sql.contains("':x'") && q.sql.contains("a::text"));
    }

    #[test]
    fn refuses_text_the_two_databases_read_differently() {
        for sql in [
            "SELECT * FROM t WHERE tenant_id = :tenant_id /* /* */ OR 1=1 -- */",
            "SELECT * FROM t WHERE tenant_id = :tenant_id AND $a$ OR 1=1 OR $a$ IS NULL",
            "SELECT * FROM t WHERE tenant_id = $1",
            "SELECT [a' OR 1=1 --] FROM t WHERE tenant_id = :tenant_id",
            "SELECT `a` FROM t WHERE tenant_id = :tenant_id",
            "SELECT e'\\', k.* FROM api_keys k --'\nWHERE :tenant_id IS NOT NULL",
            "SELECT @x AS pad, k.* FROM api_keys k WHERE k.tenant_id = :tenant_id AND :v IS NULL",
            "SELECT ?, k.* FROM api_keys k WHERE k.tenant_id = :tenant_id",
            "SELECT :1, k.* FROM api_keys k WHERE k.tenant_id = :tenant_id",
            "SELECT \u{212a}.* FROM api_keys \u{212a} WHERE k.tenant_id = :tenant_id",
            "SELECT \"\u{212a}\".* FROM api_keys \"\u{212a}\" WHERE k.tenant_id = :tenant_id",
        ] {
            let err = prepare("q", QueryAccess::Read, sql).unwrap_err();
            assert!(err.contains("differently"), "{sql}: {err}");
        }
    }

    #[test]
    fn refuses_queries_without_tenant() {
        let err = prepare("q", QueryAccess::Read, "SELECT * FROM customers").unwrap_err();
        assert!(err.contains(":tenant_id"), "{err}");
    }

    #[test]
    fn refuses_writes_declared_read_and_second_statements() {
        assert!(
            prepare(
                "q",
                QueryAccess::Read,
                "DELETE FROM t WHERE tenant_id = :tenant_id"
            )
            .is_err()
        );
        assert!(
            prepare(
                "q",
                QueryAccess::Read,
                "SELECT 1 WHERE 1 = :tenant_id; DELETE FROM t"
            )
            .unwrap_err()
            .contains("more than one statement")
        );
        assert!(
            prepare(
                "q",
                QueryAccess::Read,
                "WITH x AS (DELETE FROM t WHERE tenant_id = :tenant_id RETURNING *) SELECT * FROM x"
            )
            .is_err()
        );
        assert!(prepare("q", QueryAccess::Read, "SELECT 1 WHERE 1 = :tenant_id;").is_ok());
    }

    #[test]
    fn binds_tenant_and_names_missing_or_unknown_parameters() {
        let q = prepare(
            "q",
            QueryAccess::Read,
            "SELECT 1 FROM t WHERE tenant_id = :tenant_id AND c = :customer",
        )
        .unwrap();
        let mut given = BTreeMap::new();
        assert!(q.bind_order(7, &given).unwrap_err().contains("`customer`"));
        given.insert("customer".to_owned(), SqlValue::Text("ABC123".into()));
        assert_eq!(
            q.bind_order(7, &given).unwrap(),
            vec![SqlValue::Int(7), SqlValue::Text("ABC123".into())]
        );
        given.insert("other".to_owned(), SqlValue::Null);
        assert!(q.bind_order(7, &given).unwrap_err().contains("`other`"));
    }

    /// The two SQLite paths (sqlx for in-memory databases, rusqlite for
    /// files) give a plugin the same values for the same rows, for every
    /// column sqlx's `Any` driver decodes on SQLite (not those declared
    /// `BOOLEAN` or `DATE`: it refuses them).
    #[tokio::test]
    async fn both_sqlite_paths_read_the_same_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("types.db");
        let setup = rusqlite::Connection::open(&path).unwrap();
        setup
            .execute_batch(
                "CREATE TABLE t (b BOOLEAN, i INTEGER, r REAL, s TEXT, x BLOB, n NUMERIC, d DATE);
                 INSERT INTO t VALUES (1, 7, 2.5, 'é', X'6869', 3, '2026-12-02');
                 INSERT INTO t VALUES (0, NULL, -1.0, '', X'ff', 1.5, NULL);",
            )
            .unwrap();
        drop(setup);
        let sql = "SELECT i, r, s, x, n, i + 1 AS e, b AND 1 AS f, $1 AS p \
                   FROM t WHERE $2 IS NOT NULL ORDER BY i IS NULL";
        let values = [SqlValue::Text("ABC123".into()), SqlValue::Int(1)];

        let direct = {
            let conn = rusqlite::Connection::open(&path).unwrap();
            read_sqlite(&conn, sql, &values).unwrap()
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let rows = bind(sql, values.to_vec()).fetch_all(&pool).await.unwrap();
        let via_sqlx = read_rows(&rows).unwrap();
        assert_eq!(direct, via_sqlx);
        assert_eq!(direct.rows[0][3], SqlValue::Text("hi".into()));
        assert_eq!(direct.rows[1][0], SqlValue::Null);
    }
}
