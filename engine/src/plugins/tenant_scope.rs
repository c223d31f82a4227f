//! Checking that a named query cannot reach another tenant's rows.
//!
//! Having `:tenant_id` somewhere is not enough (`WHERE :tenant_id =
//! :tenant_id` has it). A query is accepted only if every table it reads or
//! writes is pinned to the caller's tenant:
//!
//! - a table in a `SELECT` (also in subqueries, CTEs and `INSERT ...
//!   SELECT`) needs `tenant_id = :tenant_id` for it among the `AND`ed
//!   conditions of the `WHERE` and the inner joins' `ON`, directly or
//!   through equal columns (`c.tenant_id = i.tenant_id AND i.tenant_id =
//!   :tenant_id`); a left join's `ON` counts for the table it joins;
//! - `UPDATE` and `DELETE` need it in their `WHERE`, and may not assign
//!   `tenant_id` anything but `:tenant_id`;
//! - `INSERT` must list `tenant_id` and give it `:tenant_id` in every row.
//!
//! The check fails closed: the SQL is parsed (PostgreSQL's dialect, which
//! the SQL both stores must understand is close to), and any table in a
//! place the check does not understand (a table function, `LATERAL`, a
//! right join's left side, ...) leaves the query refused.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{
    Assignment, AssignmentTarget, BinaryOperator, ConflictTarget, Delete, Expr, FromTable, Insert,
    JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, OnConflictAction, OnInsert, Query,
    Select, SelectItem, SetExpr, Statement, TableFactor, TableObject, TableWithJoins, Update,
    Value, Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The tenant column every table of a plugin's data carries.
const TENANT_COLUMN: &str = "tenant_id";

/// Checks `sql` (with positional parameters, the tenant's being
/// `tenant_placeholder`, e.g. `$1`); the error says what is not pinned.
pub fn check(sql: &str, tenant_placeholder: &str) -> Result<(), String> {
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .map_err(|e| format!("cannot be parsed to check its tenant scope: {e}"))?;
    let mut scope = Scope {
        tenant: tenant_placeholder.to_owned(),
        pinned: HashMap::new(),
        used: BTreeMap::new(),
        ctes: Vec::new(),
        depth: 0,
        problem: None,
    };
    let _ = statements.visit(&mut scope);
    if let Some(problem) = scope.problem {
        return Err(problem);
    }
    for (table, uses) in &scope.used {
        if scope.pinned.get(table).copied().unwrap_or(0) < *uses {
            return Err(format!(
                "does not pin table `{table}` to the caller's tenant: add `{TENANT_COLUMN} = :{TENANT_COLUMN}` for it (see the plugin guide)"
            ));
        }
    }
    Ok(())
}

/// An identifier as PostgreSQL reads it: unquoted ones fold to lower case,
/// quoted ones keep theirs. Two names are taken to be the same only if they
/// are the same this way, which implies SQLite (case-blind) agrees too.
fn ident(id: &sqlparser::ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_ascii_lowercase()
    }
}

/// The last part of a table name, normalised.
fn table_name(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(id)) => ident(id),
        _ => String::new(),
    }
}

/// Whether `name` is the tenant column as SQLite would read it (which
/// ignores case, quoted or not).
fn is_tenant_column(name: &ObjectName) -> bool {
    table_name(name).eq_ignore_ascii_case(TENANT_COLUMN)
}

/// Functions a named query may call: plain scalar and aggregate functions.
/// Anything else (PostgreSQL's `query_to_xml` runs SQL of its own) is
/// refused.
const SAFE_FUNCTIONS: &[&str] = &[
    "abs",
    "avg",
    "coalesce",
    "count",
    "date",
    "datetime",
    "ifnull",
    "instr",
    "julianday",
    "length",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "replace",
    "round",
    "rtrim",
    "strftime",
    "substr",
    "substring",
    "sum",
    "total",
    "trim",
    "upper",
];

/// One side of an equality: a column (qualifier, name) or the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Term {
    Tenant,
    Column(Option<String>, String),
}

/// Which terms are equal, as the `AND`ed equalities say (union-find).
#[derive(Default)]
struct Equalities {
    parent: HashMap<Term, Term>,
}

impl Equalities {
    fn root(&self, term: &Term) -> Term {
        let mut at = term.clone();
        while let Some(up) = self.parent.get(&at) {
            at = up.clone();
        }
        at
    }

    fn join(&mut self, a: Term, b: Term) {
        let (ra, rb) = (self.root(&a), self.root(&b));
        if ra != rb {
            self.parent.insert(ra, rb);
        }
    }

    fn same(&self, a: &Term, b: &Term) -> bool {
        self.root(a) == self.root(b)
    }
}

struct Scope {
    tenant: String,
    /// How many uses of each table were found pinned.
    pinned: HashMap<String, usize>,
    /// How many times each table is used.
    used: BTreeMap<String, usize>,
    /// The names of the common table expressions in scope, one entry per
    /// enclosing `WITH`.
    ctes: Vec<Vec<String>>,
    /// How many `SELECT`s enclose the one being checked: in a nested one an
    /// unqualified column may belong to an outer table, so only qualified
    /// columns pin.
    depth: usize,
    problem: Option<String>,
}

/// A table of a `SELECT` or a write: its name, the name columns are
/// qualified with, and the conditions that hold only for it (a left
/// join's `ON`).
struct Table<'a> {
    name: String,
    /// Whether the name has a single part (only such a name can be a CTE).
    bare: bool,
    qualifier: String,
    own: Vec<&'a Expr>,
}

impl Scope {
    fn is_cte(&self, name: &str) -> bool {
        self.ctes.iter().flatten().any(|c| c == name)
    }

    fn refuse(&mut self, why: impl Into<String>) {
        self.problem.get_or_insert_with(|| why.into());
    }

    /// Refuses writing to `table` when a CTE in scope has its name (the
    /// write goes to the table, but the check would take it for the CTE).
    fn check_target(&mut self, table: &ObjectName) {
        if self.is_cte(&table_name(table)) {
            self.refuse(format!(
                "writes to `{}`, which a CTE of the query is also named; rename the CTE",
                table_name(table)
            ));
        }
    }

    /// Takes the CTE names of `with` into scope. Outside `WITH RECURSIVE`,
    /// a CTE that names itself or a later CTE reads a table of that name,
    /// which the scope would mistake for the CTE: such a query is refused.
    fn enter_with(&mut self, with: &sqlparser::ast::With) {
        let names: Vec<String> = with
            .cte_tables
            .iter()
            .map(|c| ident(&c.alias.name))
            .collect();
        if !with.recursive {
            for (i, cte) in with.cte_tables.iter().enumerate() {
                let _ = sqlparser::ast::visit_relations(&cte.query, |name| {
                    if names[i..].contains(&table_name(name)) {
                        self.problem.get_or_insert(format!(
                            "has a CTE that reads a table named like itself or a later CTE (`{}`); rename the CTE",
                            table_name(name)
                        ));
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
        }
        self.ctes.push(names);
    }

    fn term(&self, expr: &Expr) -> Option<Term> {
        match expr {
            Expr::Nested(inner) => self.term(inner),
            Expr::Identifier(id) => Some(Term::Column(None, ident(id))),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [.., q, c] => Some(Term::Column(Some(ident(q)), ident(c))),
                _ => None,
            },
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) if *p == self.tenant => Some(Term::Tenant),
                _ => None,
            },
            _ => None,
        }
    }

    /// Adds the equalities among the `AND`ed conditions of `expr`;
    /// unqualified columns belong to `only` when there is one table.
    fn learn(&self, expr: &Expr, only: Option<&str>, into: &mut Equalities) {
        match expr {
            Expr::Nested(inner) => self.learn(inner, only, into),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.learn(left, only, into);
                self.learn(right, only, into);
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let qualify = |t: Term| match t {
                    Term::Column(None, c) => Term::Column(only.map(str::to_owned), c),
                    other => other,
                };
                if let (Some(a), Some(b)) = (self.term(left), self.term(right)) {
                    into.join(qualify(a), qualify(b));
                }
            }
            _ => {}
        }
    }

    /// Counts each of `tables` that `shared` (plus its own conditions)
    /// pins to the tenant.
    fn pin(&mut self, tables: &[Table<'_>], shared: &[&Expr]) {
        for (i, a) in tables.iter().enumerate() {
            if tables[i + 1..]
                .iter()
                .any(|b| a.qualifier.eq_ignore_ascii_case(&b.qualifier))
            {
                self.refuse(format!(
                    "names two tables `{}` (SQLite ignores the case of names); give them distinct aliases",
                    a.qualifier
                ));
            }
        }
        let only = (tables.len() == 1 && self.depth == 0).then(|| tables[0].qualifier.clone());
        let mut facts = Equalities::default();
        for e in shared {
            self.learn(e, only.as_deref(), &mut facts);
        }
        for table in tables {
            if table.bare && self.is_cte(&table.name) {
                continue;
            }
            let mut own = Equalities {
                parent: facts.parent.clone(),
            };
            for e in &table.own {
                self.learn(e, only.as_deref(), &mut own);
            }
            let column = Term::Column(Some(table.qualifier.clone()), TENANT_COLUMN.to_owned());
            if own.same(&column, &Term::Tenant) {
                *self.pinned.entry(table.name.clone()).or_default() += 1;
            }
        }
    }

    /// The named tables of `from` and its joins, and the inner joins'
    /// conditions (which hold for the whole row).
    fn tables_of<'a>(from: &'a [TableWithJoins], shared: &mut Vec<&'a Expr>) -> Vec<Table<'a>> {
        let mut tables = Vec::new();
        for twj in from {
            if let Some(t) = named(&twj.relation, Vec::new()) {
                tables.push(t);
            }
            for join in &twj.joins {
                let on = |c: &'a JoinConstraint| match c {
                    JoinConstraint::On(e) => Some(e),
                    _ => None,
                };
                let own = match &join.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => {
                        shared.extend(on(c));
                        Vec::new()
                    }
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => {
                        on(c).into_iter().collect()
                    }
                    _ => Vec::new(),
                };
                if let Some(t) = named(&join.relation, own) {
                    tables.push(t);
                }
            }
        }
        tables
    }

    fn check_select(&mut self, select: &Select) {
        let mut shared: Vec<&Expr> = select.selection.iter().collect();
        let tables = Self::tables_of(&select.from, &mut shared);
        // Aliases of derived tables and functions may not twin a table's.
        let others: Vec<String> = select
            .from
            .iter()
            .flat_map(|twj| {
                std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation))
            })
            .filter(|f| !matches!(f, TableFactor::Table { args: None, .. }))
            .filter_map(factor_alias)
            .collect();
        for t in &tables {
            if others.iter().any(|o| o.eq_ignore_ascii_case(&t.qualifier)) {
                self.refuse(format!(
                    "names two relations `{}`; give them distinct aliases",
                    t.qualifier
                ));
            }
        }
        self.pin(&tables, &shared);
    }

    fn refuse_tenant_assignments(&mut self, assignments: &[Assignment]) {
        for a in assignments {
            let names: Vec<&ObjectName> = match &a.target {
                AssignmentTarget::ColumnName(n) => vec![n],
                AssignmentTarget::Tuple(ns) => ns.iter().collect(),
            };
            let sets_tenant = names.iter().any(|n| is_tenant_column(n));
            if sets_tenant && self.term(&a.value) != Some(Term::Tenant) {
                self.refuse(format!(
                    "assigns `{TENANT_COLUMN}`, which only `:{TENANT_COLUMN}` may be"
                ));
            }
        }
    }

    fn check_update(&mut self, update: &Update) {
        if update.or.is_some() {
            self.refuse("uses `UPDATE OR ...`, which can replace another tenant's row");
        }
        if let TableFactor::Table { name, .. } = &update.table.relation {
            self.check_target(name);
        }
        self.refuse_tenant_assignments(&update.assignments);
        let mut shared: Vec<&Expr> = update.selection.iter().collect();
        let tables = Self::tables_of(std::slice::from_ref(&update.table), &mut shared);
        self.pin(&tables, &shared);
    }

    fn check_delete(&mut self, delete: &Delete) {
        let from = match &delete.from {
            FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
        };
        for twj in from {
            if let TableFactor::Table { name, .. } = &twj.relation {
                self.check_target(name);
            }
        }
        let mut shared: Vec<&Expr> = delete.selection.iter().collect();
        let mut tables = Self::tables_of(from, &mut shared);
        if let Some(using) = &delete.using {
            tables.extend(Self::tables_of(using, &mut shared));
        }
        self.pin(&tables, &shared);
    }

    fn check_insert(&mut self, insert: &Insert) {
        if insert.or.is_some() || insert.replace_into {
            self.refuse(
                "uses `INSERT OR ...` or `REPLACE`, which can replace another tenant's row",
            );
        }
        match &insert.on {
            None => {}
            Some(OnInsert::OnConflict(c)) => {
                if let OnConflictAction::DoUpdate(update) = &c.action {
                    let keyed = matches!(
                        &c.conflict_target,
                        Some(ConflictTarget::Columns { columns, .. })
                            if columns.iter().any(|c| c.value.eq_ignore_ascii_case(TENANT_COLUMN))
                    );
                    if !keyed {
                        self.refuse(format!(
                            "updates on conflict without `{TENANT_COLUMN}` in the conflict target, so the row updated may be another tenant's"
                        ));
                    }
                    self.refuse_tenant_assignments(&update.assignments);
                }
            }
            Some(_) => self.refuse("uses an `ON DUPLICATE KEY` clause; use `ON CONFLICT`"),
        }
        let TableObject::TableName(name) = &insert.table else {
            return;
        };
        self.check_target(name);
        for (i, a) in insert.columns.iter().enumerate() {
            let twice = insert.columns[i + 1..]
                .iter()
                .any(|b| table_name(a).eq_ignore_ascii_case(&table_name(b)));
            if twice {
                self.refuse(format!("lists column `{}` twice", table_name(a)));
            }
        }
        let Some(at) = insert.columns.iter().position(is_tenant_column) else {
            return;
        };
        let width = insert.columns.len();
        let rows_pinned = match insert.source.as_deref().map(|q| q.body.as_ref()) {
            Some(SetExpr::Values(values)) => values.rows.iter().all(|row| {
                row.content.len() == width && self.term(&row.content[at]) == Some(Term::Tenant)
            }),
            // No wildcards: `v.*` could shift the columns.
            Some(SetExpr::Select(select)) => {
                select.projection.len() == width
                    && select.projection.iter().all(|item| {
                        matches!(
                            item,
                            SelectItem::UnnamedExpr(_) | SelectItem::ExprWithAlias { .. }
                        )
                    })
                    && match &select.projection[at] {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                            self.term(e) == Some(Term::Tenant)
                        }
                        _ => false,
                    }
            }
            _ => false,
        };
        if rows_pinned {
            *self.pinned.entry(table_name(name)).or_default() += 1;
        }
    }

    /// Refuses a set expression the check cannot see into (`TABLE t`).
    fn check_body(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(_) | SetExpr::Query(_) | SetExpr::Values(_) => {}
            SetExpr::SetOperation { left, right, .. } => {
                self.check_body(left);
                self.check_body(right);
            }
            SetExpr::Insert(_) | SetExpr::Update(_) | SetExpr::Delete(_) => {}
            _ => self
                .refuse("uses a form of query the tenant check does not know (such as `TABLE t`)"),
        }
    }
}

/// The alias of any table factor.
fn factor_alias(factor: &TableFactor) -> Option<String> {
    let alias = match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. } => alias.as_ref(),
        _ => None,
    };
    alias.map(|a| ident(&a.name))
}

/// A named table (not a table function), with its own conditions.
fn named<'a>(factor: &'a TableFactor, own: Vec<&'a Expr>) -> Option<Table<'a>> {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } if alias.as_ref().is_none_or(|a| a.columns.is_empty()) => Some(Table {
            name: table_name(name),
            bare: name.0.len() == 1,
            qualifier: alias
                .as_ref()
                .map_or_else(|| table_name(name), |a| ident(&a.name)),
            own,
        }),
        _ => None,
    }
}

impl Visitor for Scope {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.check_body(&query.body);
        match &query.with {
            Some(with) => self.enter_with(with),
            None => self.ctes.push(Vec::new()),
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<()> {
        self.ctes.pop();
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let name = table_name(relation);
        if relation.0.len() > 1 || !self.is_cte(&name) {
            *self.used.entry(name).or_default() += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
        self.check_select(select);
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_select(&mut self, _select: &Select) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr {
            let name = table_name(&f.name);
            if f.name.0.len() > 1 || !SAFE_FUNCTIONS.contains(&name.as_str()) {
                self.refuse(format!(
                    "calls `{}`, which is not among the functions a named query may use ({})",
                    f.name,
                    SAFE_FUNCTIONS.join(", ")
                ));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        match statement {
            Statement::Update(u) => self.check_update(u),
            Statement::Delete(d) => self.check_delete(d),
            Statement::Insert(i) => self.check_insert(i),
            Statement::Query(_) => return ControlFlow::Continue(()),
            _ => self.refuse("is not a SELECT, INSERT, UPDATE or DELETE"),
        }
        // A SELECT inside a write may see the written table's columns.
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        if !matches!(statement, Statement::Query(_)) {
            self.depth = self.depth.saturating_sub(1);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn ok(sql: &str) {
        assert_eq!(check(sql, "$1"), Ok(()), "{sql}");
    }

    fn refused(sql: &str, table: &str) {
        let err = check(sql, "$1").expect_err(sql);
        assert!(err.contains(table), "{sql}: {err}");
    }

    #[test]
    fn accepts_tables_pinned_directly_or_through_joins() {
        ok("SELECT name FROM customers WHERE tenant_id = $1 AND account_code = $2");
        ok("SELECT 1 WHERE 1 = $1");
        ok("SELECT i.invoice_id FROM invoices i JOIN customers c \
            ON c.tenant_id = i.tenant_id AND c.account_code = i.account_code \
            WHERE i.tenant_id = $1 ORDER BY 1");
        ok("SELECT c.name FROM customers c LEFT JOIN payments p \
            ON p.tenant_id = c.tenant_id WHERE (c.tenant_id = $1)");
        ok("WITH mine AS (SELECT * FROM tickets WHERE tenant_id = $1) SELECT * FROM mine");
        ok(
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 9) \
            SELECT COUNT(*) FROM c WHERE $1 IS NOT NULL",
        );
        ok(
            "SELECT * FROM customers WHERE tenant_id = $1 AND account_code IN \
            (SELECT account_code FROM devices WHERE devices.tenant_id = $1)",
        );
        ok("UPDATE customers SET name = $2 WHERE tenant_id = $1 AND account_code = $3");
        ok("DELETE FROM tickets WHERE ticket_id = $2 AND tenant_id = $1");
        ok("INSERT INTO tickets (tenant_id, ticket_id) VALUES ($1, $2), ($1, $3)");
        ok(
            "INSERT INTO tickets (ticket_id, tenant_id) VALUES ($2, $1) \
            ON CONFLICT (tenant_id, ticket_id) DO UPDATE SET ticket_id = excluded.ticket_id",
        );
    }

    #[test]
    fn refuses_a_table_any_tenant_could_reach() {
        refused("SELECT * FROM customers WHERE $1 = $1", "customers");
        refused(
            "SELECT * FROM customers WHERE tenant_id = $1 OR 1 = 1",
            "customers",
        );
        refused("SELECT * FROM customers WHERE tenant_id <> $1", "customers");
        refused(
            "SELECT * FROM customers c, payments p WHERE c.tenant_id = $1",
            "payments",
        );
        refused(
            "SELECT * FROM customers c JOIN payments p ON p.account_code = c.account_code \
             WHERE tenant_id = $1",
            "customers",
        );
        refused(
            "SELECT * FROM customers c LEFT JOIN payments p ON p.tenant_id = $1",
            "customers",
        );
        refused(
            "SELECT * FROM customers WHERE tenant_id = $1 UNION SELECT * FROM customers",
            "customers",
        );
        refused(
            "SELECT * FROM customers WHERE tenant_id = $1 AND account_code IN \
             (SELECT account_code FROM devices)",
            "devices",
        );
        refused("SELECT * FROM customers WHERE tenant_id = $2", "customers");
        refused(
            "SELECT * FROM (WITH customers AS (SELECT 1 AS x) SELECT * FROM customers) a, customers",
            "customers",
        );
        refused(
            "WITH customers AS (SELECT * FROM customers) SELECT * FROM customers WHERE tenant_id = $1",
            "named like itself",
        );
        refused(
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1 AS x) SELECT * FROM a WHERE $1 = $1",
            "named like itself or a later CTE (`b`)",
        );
        refused("UPDATE customers SET name = $2", "customers");
        refused(
            "DELETE FROM customers WHERE tenant_id = $1 OR true",
            "customers",
        );
        refused("INSERT INTO tickets (ticket_id) VALUES ($2)", "tickets");
        refused(
            "INSERT INTO tickets (tenant_id, ticket_id) VALUES ($1, $2), ($3, $2)",
            "tickets",
        );
        refused(
            "INSERT INTO tickets (tenant_id, ticket_id) SELECT tenant_id, ticket_id FROM tickets WHERE tenant_id = $1",
            "tickets",
        );
    }

    #[test]
    fn refuses_what_review_found_slipping_through() {
        for sql in [
            // A CTE named like the table written to.
            "WITH customers AS (SELECT $1) UPDATE customers SET name = $2",
            "WITH customers AS (SELECT $1) DELETE FROM customers",
            "WITH tickets AS (SELECT $1) INSERT INTO tickets (tenant_id, ticket_id) VALUES ($2, $3)",
            // A qualified name is never a CTE; a quoted CTE name is another name.
            "WITH customers AS (SELECT 1) SELECT * FROM public.customers WHERE $1 IS NOT NULL",
            "WITH \"Customers\" AS (SELECT 1 AS x) SELECT * FROM customers WHERE $1 IS NOT NULL",
            // `TABLE t` and functions that run SQL of their own.
            "SELECT * FROM customers WHERE tenant_id = $1 UNION ALL TABLE customers",
            "SELECT query_to_xml('SELECT * FROM customers', true, false, '') WHERE $1 IS NOT NULL",
            "SELECT pg_catalog.lower(name) FROM customers WHERE tenant_id = $1",
            // A wildcard that shifts the inserted columns.
            "INSERT INTO tickets (ticket_id, tenant_id, subject) SELECT v.*, $1 FROM (VALUES ($2, $3)) AS v",
            // Aliases that differ only by case, and column-alias lists.
            "SELECT \"C\".* FROM customers \"C\", tickets c WHERE c.tenant_id = $1",
            "SELECT * FROM customers c WHERE c.tenant_id = $1 AND EXISTS \
             (SELECT 1 FROM tickets \"C\" WHERE c.tenant_id = $1)",
            "SELECT p.* FROM payments AS p(a, b, tenant_id) WHERE p.tenant_id = $1",
            // In a nested SELECT an unqualified column may be an outer one.
            "SELECT * FROM customers c WHERE c.tenant_id = $1 AND EXISTS \
             (SELECT 1 FROM api_keys WHERE tenant_id = $1)",
            // Upserts that may land on another tenant's row.
            "INSERT INTO api_keys (key_id, tenant_id) VALUES ($2, $1) \
             ON CONFLICT (key_id) DO UPDATE SET key_id = excluded.key_id",
            "INSERT OR REPLACE INTO api_keys (key_id, tenant_id) VALUES ($2, $1)",
            "REPLACE INTO api_keys (key_id, tenant_id) VALUES ($2, $1)",
            "UPDATE OR REPLACE customers SET name = $2 WHERE tenant_id = $1",
            // The second review: SQLite folds the case of quoted names too.
            "UPDATE api_keys SET \"TENANT_ID\" = $2 WHERE tenant_id = $1",
            "INSERT INTO api_keys (\"TENANT_ID\", tenant_id, key_hash) VALUES ($2, $1, $3)",
            // A derived table twinning a table's alias.
            "SELECT K.* FROM api_keys K, (SELECT $1 AS tenant_id) k WHERE k.tenant_id = $1",
            // Subqueries of a write may see the written table's columns.
            "UPDATE tickets SET subject = (SELECT t.name FROM tenants t \
             WHERE tenant_id = $1 LIMIT 1) WHERE tenant_id = $1",
        ] {
            assert!(check(sql, "$1").is_err(), "accepted: {sql}");
        }
        ok(
            "SELECT * FROM customers c WHERE c.tenant_id = $1 AND EXISTS \
            (SELECT 1 FROM tickets t WHERE t.tenant_id = $1 AND t.account_code = c.account_code)",
        );
        ok("INSERT INTO tickets (tenant_id, ticket_id) SELECT $1, $2");
    }

    #[test]
    fn refuses_moving_rows_to_another_tenant() {
        refused(
            "UPDATE customers SET tenant_id = $2 WHERE tenant_id = $1",
            "assigns `tenant_id`",
        );
        refused(
            "INSERT INTO t (tenant_id, a) VALUES ($1, $2) ON CONFLICT (a) DO UPDATE SET tenant_id = $3",
            "on conflict",
        );
    }

    #[test]
    fn refuses_what_it_cannot_parse() {
        refused("SELECT FROM WHERE", "cannot be parsed");
    }
}
