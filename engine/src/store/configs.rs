//! AI service configurations of a tenant: unique names, exactly one
//! default, API keys sealed at rest.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::records::now_text;
use super::{Db, StoreError};
use crate::TenantId;

/// A stored configuration (the key itself is never read back here).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigRow {
    /// Id.
    pub config_id: String,
    /// Unique name within the tenant.
    pub name: String,
    /// Where the service lives.
    pub service_url: String,
    /// JSON parameters, as text.
    pub parameters: String,
    /// Last four characters of the key.
    pub api_key_last4: Option<String>,
    /// Whether it is the tenant's default.
    pub is_default: bool,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
}

/// `is_default` is read through a cast: sqlx's `Any` driver cannot decode
/// SQLite's BOOLEAN columns.
const COLUMNS: &str = "config_id, name, service_url, parameters, api_key_last4, CAST(CASE WHEN is_default THEN 1 ELSE 0 END AS BIGINT) AS is_default, created_at, updated_at";

/// Reads a boolean selected as `CAST(x AS BIGINT)`.
fn read_bool(r: &AnyRow, i: usize) -> Result<bool, sqlx::Error> {
    r.try_get::<i64, _>(i)
        .map(|v| v != 0)
        .or_else(|_| r.try_get::<bool, _>(i))
}

async fn is_default_of(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: TenantId,
    id: &str,
) -> Result<Option<bool>, sqlx::Error> {
    let row = sqlx::query("SELECT CAST(CASE WHEN is_default THEN 1 ELSE 0 END AS BIGINT) FROM ai_service_configs WHERE tenant_id = $1 AND config_id = $2")
        .bind(tenant.get())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(|r| read_bool(r, 0)).transpose()
}

fn read(r: &AnyRow) -> Result<ConfigRow, sqlx::Error> {
    Ok(ConfigRow {
        config_id: r.try_get(0)?,
        name: r.try_get(1)?,
        service_url: r.try_get(2)?,
        parameters: r.try_get(3)?,
        api_key_last4: r.try_get(4)?,
        is_default: read_bool(r, 5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
    })
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigWriteError {
    /// Another configuration of the tenant has the name.
    #[error("a configuration named `{0}` already exists")]
    DuplicateName(String),
    /// Not found in the tenant.
    #[error("no configuration `{0}`")]
    NotFound(String),
    /// The only default cannot stop being the default.
    #[error("exactly one configuration must be the default: make another one the default instead")]
    LastDefault,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConfigWriteError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// All configurations of the tenant, by name.
pub async fn list(db: &Db, tenant: TenantId) -> Result<Vec<ConfigRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ai_service_configs WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(tenant.get())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(read).collect::<Result<_, _>>()?)
}

/// One configuration of the tenant.
pub async fn get(db: &Db, tenant: TenantId, id: &str) -> Result<Option<ConfigRow>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM ai_service_configs WHERE tenant_id = $1 AND config_id = $2"
    ))
    .bind(tenant.get())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.as_ref().map(read).transpose()?)
}

/// A configuration to write.
#[derive(Debug, Clone)]
pub struct ConfigInput {
    /// Name.
    pub name: String,
    /// URL.
    pub service_url: String,
    /// JSON parameters as text.
    pub parameters: String,
    /// Sealed key and its last four characters; `None` keeps the old one.
    pub api_key: Option<(String, String)>,
    /// Whether to make it the default.
    pub is_default: bool,
}

async fn name_taken(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant: TenantId,
    name: &str,
    except: &str,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ai_service_configs WHERE tenant_id = $1 AND name = $2 AND config_id <> $3")
        .bind(tenant.get())
        .bind(name)
        .bind(except)
        .fetch_one(&mut **tx)
        .await?;
    Ok(n > 0)
}

/// Creates a configuration; the tenant's first one becomes the default.
pub async fn create(
    db: &Db,
    tenant: TenantId,
    id: &str,
    input: &ConfigInput,
) -> Result<ConfigRow, ConfigWriteError> {
    let mut tx = db.begin_write().await?;
    if name_taken(&mut tx, tenant, &input.name, id).await? {
        return Err(ConfigWriteError::DuplicateName(input.name.clone()));
    }
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ai_service_configs WHERE tenant_id = $1")
            .bind(tenant.get())
            .fetch_one(&mut *tx)
            .await?;
    let is_default = input.is_default || count == 0;
    if is_default {
        sqlx::query("UPDATE ai_service_configs SET is_default = $1 WHERE tenant_id = $2")
            .bind(false)
            .bind(tenant.get())
            .execute(&mut *tx)
            .await?;
    }
    let now = now_text();
    let (sealed, last4) = input
        .api_key
        .clone()
        .map_or((None, None), |(s, l)| (Some(s), Some(l)));
    let inserted = sqlx::query(
        "INSERT INTO ai_service_configs (config_id, tenant_id, name, service_url, parameters, api_key_encrypted, api_key_last4, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(id)
    .bind(tenant.get())
    .bind(&input.name)
    .bind(&input.service_url)
    .bind(&input.parameters)
    .bind(sealed)
    .bind(last4)
    .bind(is_default)
    .bind(&now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(ConfigWriteError::DuplicateName(input.name.clone()));
        }
        other => {
            other?;
        }
    }
    tx.commit().await?;
    get(db, tenant, id)
        .await?
        .ok_or_else(|| ConfigWriteError::NotFound(id.to_owned()))
}

/// Replaces a configuration's fields.
pub async fn update(
    db: &Db,
    tenant: TenantId,
    id: &str,
    input: &ConfigInput,
) -> Result<ConfigRow, ConfigWriteError> {
    let mut tx = db.begin_write().await?;
    let current = is_default_of(&mut tx, tenant, id).await?;
    let Some(was_default) = current else {
        return Err(ConfigWriteError::NotFound(id.to_owned()));
    };
    if was_default && !input.is_default {
        return Err(ConfigWriteError::LastDefault);
    }
    if name_taken(&mut tx, tenant, &input.name, id).await? {
        return Err(ConfigWriteError::DuplicateName(input.name.clone()));
    }
    if input.is_default {
        sqlx::query("UPDATE ai_service_configs SET is_default = $1 WHERE tenant_id = $2 AND config_id <> $3")
            .bind(false)
            .bind(tenant.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE ai_service_configs SET name = $1, service_url = $2, parameters = $3, is_default = $4, updated_at = $5 \
         WHERE tenant_id = $6 AND config_id = $7",
    )
    .bind(&input.name)
    .bind(&input.service_url)
    .bind(&input.parameters)
    .bind(input.is_default)
    .bind(now_text())
    .bind(tenant.get())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if let Some((sealed, last4)) = &input.api_key {
        sqlx::query("UPDATE ai_service_configs SET api_key_encrypted = $1, api_key_last4 = $2 WHERE tenant_id = $3 AND config_id = $4")
            .bind(sealed)
            .bind(last4)
            .bind(tenant.get())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get(db, tenant, id)
        .await?
        .ok_or_else(|| ConfigWriteError::NotFound(id.to_owned()))
}

/// Deletes a configuration; when it was the default, the oldest other one
/// becomes the default.
pub async fn delete(db: &Db, tenant: TenantId, id: &str) -> Result<(), ConfigWriteError> {
    let mut tx = db.begin_write().await?;
    let current = is_default_of(&mut tx, tenant, id).await?;
    let Some(was_default) = current else {
        return Err(ConfigWriteError::NotFound(id.to_owned()));
    };
    sqlx::query("DELETE FROM api_keys WHERE tenant_id = $1 AND config_id = $2")
        .bind(tenant.get())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM ai_service_configs WHERE tenant_id = $1 AND config_id = $2")
        .bind(tenant.get())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if was_default {
        let next: Option<String> = sqlx::query_scalar(
            "SELECT config_id FROM ai_service_configs WHERE tenant_id = $1 ORDER BY created_at, config_id LIMIT 1",
        )
        .bind(tenant.get())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(next) = next {
            sqlx::query("UPDATE ai_service_configs SET is_default = $1 WHERE tenant_id = $2 AND config_id = $3")
                .bind(true)
                .bind(tenant.get())
                .bind(next)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The sealed key of a configuration (for the AI client, never the API).
pub async fn sealed_key(db: &Db, tenant: TenantId, id: &str) -> Result<Option<String>, StoreError> {
    let key: Option<Option<String>> = sqlx::query_scalar(
        "SELECT api_key_encrypted FROM ai_service_configs WHERE tenant_id = $1 AND config_id = $2",
    )
    .bind(tenant.get())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(key.flatten())
}

/// A configuration with its sealed keys, for the AI client (never the API).
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    /// The configuration.
    pub row: ConfigRow,
    /// Its sealed current key.
    pub sealed_key: Option<String>,
    /// Sealed previous keys still in their grace period, with its end
    /// (RFC 3339).
    pub previous_keys: Vec<(String, String)>,
}

/// Every configuration of the tenant with its keys.
pub async fn services(db: &Db, tenant: TenantId) -> Result<Vec<ServiceRow>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, api_key_encrypted FROM ai_service_configs WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(tenant.get())
    .fetch_all(db.pool())
    .await?;
    let now = now_text();
    let previous = sqlx::query(
        "SELECT config_id, encrypted, valid_until FROM api_keys WHERE tenant_id = $1 AND config_id IS NOT NULL AND valid_until > $2 ORDER BY valid_until DESC",
    )
    .bind(tenant.get())
    .bind(&now)
    .fetch_all(db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let row = read(r)?;
        let sealed_key: Option<String> = r.try_get(8)?;
        let mut previous_keys = Vec::new();
        for p in &previous {
            let config: String = p.try_get(0)?;
            if config == row.config_id {
                previous_keys.push((p.try_get(1)?, p.try_get(2)?));
            }
        }
        out.push(ServiceRow {
            row,
            sealed_key,
            previous_keys,
        });
    }
    Ok(out)
}

/// The outcome of a key rotation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotated {
    /// The configuration, with the new key's last four characters.
    pub row: ConfigRow,
    /// The previous key's last four characters, if there was one.
    pub previous_last4: Option<String>,
    /// Until when the previous key is still used (RFC 3339).
    pub previous_valid_until: Option<String>,
}

/// Replaces the key of a configuration with `sealed` (and `last4`); the
/// previous key stays usable until `grace_until` (RFC 3339).
pub async fn rotate_key(
    db: &Db,
    tenant: TenantId,
    id: &str,
    sealed: &str,
    last4: &str,
    grace_until: &str,
) -> Result<Rotated, ConfigWriteError> {
    let mut tx = db.begin_write().await?;
    let current = sqlx::query(
        "SELECT api_key_encrypted, api_key_last4 FROM ai_service_configs WHERE tenant_id = $1 AND config_id = $2",
    )
    .bind(tenant.get())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        return Err(ConfigWriteError::NotFound(id.to_owned()));
    };
    let old_sealed: Option<String> = current.try_get(0)?;
    let old_last4: Option<String> = current.try_get(1)?;
    let now = now_text();
    let mut previous_valid_until = None;
    // One previous key at a time: an earlier one's grace ends now.
    sqlx::query("UPDATE api_keys SET valid_until = $1 WHERE tenant_id = $2 AND config_id = $3 AND valid_until > $1")
        .bind(&now)
        .bind(tenant.get())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if let Some(old) = &old_sealed {
        sqlx::query(
            "INSERT INTO api_keys (key_id, tenant_id, config_id, encrypted, last4, valid_until, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(super::records::new_id())
        .bind(tenant.get())
        .bind(id)
        .bind(old)
        .bind(old_last4.clone().unwrap_or_default())
        .bind(grace_until)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        previous_valid_until = Some(grace_until.to_owned());
    }
    sqlx::query("UPDATE ai_service_configs SET api_key_encrypted = $1, api_key_last4 = $2, updated_at = $3 WHERE tenant_id = $4 AND config_id = $5")
        .bind(sealed)
        .bind(last4)
        .bind(&now)
        .bind(tenant.get())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let row = get(db, tenant, id)
        .await?
        .ok_or_else(|| ConfigWriteError::NotFound(id.to_owned()))?;
    Ok(Rotated {
        row,
        previous_last4: old_sealed.and(old_last4),
        previous_valid_until,
    })
}
