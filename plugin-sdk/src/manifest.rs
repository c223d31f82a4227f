//! Describing a plugin: its intents and the named queries it ships.

use crate::bindings::switchboard::plugin::types as wit;

/// Whether an intent only reads, or proposes a change to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentKind {
    /// Answers from data; never writes.
    Read,
    /// Proposes a change; `execute` carries it out once an agent confirms.
    Action,
}

/// Whether a named query only reads, or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryAccess {
    /// Allowed in `handle` and `execute`.
    Read,
    /// Allowed only in `execute`.
    Write,
}

/// SQL that ships with the plugin, granted by name by the admin.
///
/// Write parameters as `:name`. The host binds `:tenant_id` from the
/// authenticated request and refuses a query in which any table is not
/// pinned to it (`tenant_id = :tenant_id` among the `AND`ed conditions of
/// its `WHERE` or inner join's `ON`, directly or through equal columns;
/// an `INSERT` gives `tenant_id` the value `:tenant_id`), so a plugin can
/// never read or write another tenant's rows.
#[derive(Debug, Clone)]
pub struct NamedQuery {
    name: String,
    description: String,
    access: QueryAccess,
    sql: String,
}

impl NamedQuery {
    /// A read-only query.
    pub fn read(name: impl Into<String>, sql: impl Into<String>) -> Self {
        Self::new(name, QueryAccess::Read, sql)
    }

    /// A query that writes; it may only run inside `execute`.
    pub fn write(name: impl Into<String>, sql: impl Into<String>) -> Self {
        Self::new(name, QueryAccess::Write, sql)
    }

    fn new(name: impl Into<String>, access: QueryAccess, sql: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: String::new(),
            access,
            sql: sql.into(),
        }
    }

    /// A sentence for the admin who reviews the grant.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    fn into_wit(self) -> wit::NamedQuery {
        wit::NamedQuery {
            name: self.name,
            description: self.description,
            access: match self.access {
                QueryAccess::Read => wit::QueryAccess::Read,
                QueryAccess::Write => wit::QueryAccess::Write,
            },
            sql: self.sql,
        }
    }
}

/// One intent a plugin owns, built fluently.
#[derive(Debug, Clone)]
pub struct Intent {
    name: String,
    description: String,
    examples: Vec<String>,
    required: Vec<Vec<String>>,
    optional: Vec<String>,
    permission: String,
    kind: IntentKind,
    queries: Vec<String>,
}

impl Intent {
    /// A read intent named `name` (e.g. `billing.balance`).
    pub fn read(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, IntentKind::Read)
    }

    /// An action intent: `handle` proposes, `execute` carries out.
    pub fn action(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self::new(name, description, IntentKind::Action)
    }

    fn new(name: impl Into<String>, description: impl Into<String>, kind: IntentKind) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            examples: Vec::new(),
            required: Vec::new(),
            optional: Vec::new(),
            permission: String::new(),
            kind,
            queries: Vec::new(),
        }
    }

    /// Example utterances; the embedded NLU trains on them. Give a dozen or
    /// more, phrased the way agents type.
    pub fn examples<I, S>(mut self, examples: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.examples.extend(examples.into_iter().map(Into::into));
        self
    }

    /// A required entity.
    pub fn requires(self, entity: impl Into<String>) -> Self {
        self.requires_one_of([entity])
    }

    /// A group of alternatives of which at least one is required, e.g.
    /// `["customer", "customer_name"]`.
    pub fn requires_one_of<I, S>(mut self, entities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required
            .push(entities.into_iter().map(Into::into).collect());
        self
    }

    /// Optional entities.
    pub fn optional<I, S>(mut self, entities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.optional.extend(entities.into_iter().map(Into::into));
        self
    }

    /// The permission an agent needs, e.g. `billing_read`.
    pub fn permission(mut self, permission: impl Into<String>) -> Self {
        self.permission = permission.into();
        self
    }

    /// The named queries this intent uses.
    pub fn queries<I, S>(mut self, queries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.queries.extend(queries.into_iter().map(Into::into));
        self
    }

    fn into_wit(self) -> wit::IntentSpec {
        wit::IntentSpec {
            name: self.name,
            description: self.description,
            examples: self.examples,
            required_entities: self.required,
            optional_entities: self.optional,
            permission: self.permission,
            kind: match self.kind {
                IntentKind::Read => wit::IntentKind::Read,
                IntentKind::Action => wit::IntentKind::Action,
            },
            queries: self.queries,
        }
    }
}

/// What a plugin says about itself.
#[derive(Debug, Clone)]
pub struct Manifest {
    name: String,
    version: String,
    description: String,
    intents: Vec<Intent>,
    queries: Vec<NamedQuery>,
}

impl Manifest {
    /// A manifest with no intents yet.
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            intents: Vec::new(),
            queries: Vec::new(),
        }
    }

    /// Adds an intent.
    pub fn intent(mut self, intent: Intent) -> Self {
        self.intents.push(intent);
        self
    }

    /// Adds a named query.
    pub fn query(mut self, query: NamedQuery) -> Self {
        self.queries.push(query);
        self
    }

    pub(crate) fn into_wit(self) -> wit::PluginManifest {
        wit::PluginManifest {
            name: self.name,
            version: self.version,
            description: self.description,
            intents: self.intents.into_iter().map(Intent::into_wit).collect(),
            queries: self.queries.into_iter().map(NamedQuery::into_wit).collect(),
        }
    }
}
