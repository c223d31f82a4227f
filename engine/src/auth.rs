//! Authentication: JWT bearer tokens (HS256 with a shared secret, or RS256
//! with a configured public key), and the authenticated [`Caller`] that
//! every handler receives. Only this module turns a token into a
//! [`TenantId`].

use std::collections::BTreeSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::TenantId;

/// The secret used when none is configured: fine on a laptop, refused
/// nowhere, but logged as a warning at start-up.
pub const DEV_SECRET: &str = "switchboard-development-secret-change-me";

/// The claims Switchboard reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The tenant.
    pub tenant_id: i64,
    /// `support_agent`, `admin`, `analyst`, ...
    pub role: String,
    /// Permissions such as `billing_read`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// Who is calling, as the token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id.
    pub user_id: String,
    /// The tenant; every read and write is scoped to it.
    pub tenant: TenantId,
    /// The role.
    pub role: String,
    /// The permissions.
    pub permissions: BTreeSet<String>,
}

impl Caller {
    /// Whether the caller holds `permission`.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Expired.
    #[error("the token has expired")]
    Expired,
    /// Bad signature, wrong algorithm, malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key could not be used.
    #[error("authentication is misconfigured: {0}")]
    Config(String),
}

/// Verifies (and, with a secret, signs) tokens.
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    algorithm: Algorithm,
    encoding: Option<EncodingKey>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &str) -> Self {
        Self {
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            algorithm: Algorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret.as_bytes())),
        }
    }

    /// RS256 with a PEM public key (verification only).
    pub fn rs256(public_key_pem: &[u8]) -> Result<Self, AuthError> {
        Ok(Self {
            decoding: DecodingKey::from_rsa_pem(public_key_pem)
                .map_err(|e| AuthError::Config(e.to_string()))?,
            algorithm: Algorithm::RS256,
            encoding: None,
        })
    }

    /// Verifies a bearer token and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let mut validation = Validation::new(self.algorithm);
        validation.leeway = 5;
        // Identity providers put an audience in their tokens; without a
        // configured audience it is not checked.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let data =
            decode::<Claims>(token, &self.decoding, &validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                other => AuthError::Invalid(format!("{other:?}").to_lowercase()),
            })?;
        let c = data.claims;
        if c.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject".into()));
        }
        Ok(Caller {
            user_id: c.sub,
            tenant: TenantId::new(c.tenant_id),
            role: c.role,
            permissions: c.permissions.into_iter().collect(),
        })
    }

    /// Signs `claims` (HS256 only).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        let key = self.encoding.as_ref().ok_or_else(|| {
            AuthError::Config("tokens can only be signed with an HS256 secret".into())
        })?;
        encode(&Header::new(Algorithm::HS256), claims, key)
            .map_err(|e| AuthError::Config(e.to_string()))
    }
}

/// Parses a duration like `90s`, `15m`, `1h`, `7d` (a bare number is
/// seconds).
pub fn parse_ttl(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Seconds since the epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    /// The verifier the configuration asks for; `true` with it when the
    /// development secret is in use.
    pub fn from_config(config: &crate::config::Config) -> Result<(Self, bool), AuthError> {
        if let Some(path) = &config.auth.jwt_public_key_file {
            let pem = std::fs::read(config.resolve_path(path))
                .map_err(|e| AuthError::Config(format!("cannot read {}: {e}", path.display())))?;
            return Ok((Self::rs256(&pem)?, false));
        }
        match &config.auth.jwt_secret {
            Some(secret) => Ok((Self::hs256(secret), false)),
            None => Ok((Self::hs256(DEV_SECRET), true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims {
            sub: "42".into(),
            tenant_id: 1,
            role: "support_agent".into(),
            permissions: vec!["billing_read".into()],
            exp,
        }
    }

    #[test]
    fn signs_and_verifies() {
        let a = Authenticator::hs256("secret");
        let token = a.sign(&claims(now_secs() + 60)).unwrap();
        let caller = a.verify(&token).unwrap();
        assert_eq!(caller.tenant, TenantId::new(1));
        assert!(caller.has("billing_read") && !caller.has("billing_write"));
    }

    #[test]
    fn refuses_expired_and_forged_tokens() {
        let a = Authenticator::hs256("secret");
        let old = a.sign(&claims(now_secs() - 3600)).unwrap();
        assert_eq!(a.verify(&old), Err(AuthError::Expired));
        let forged = Authenticator::hs256("other")
            .sign(&claims(now_secs() + 60))
            .unwrap();
        assert!(matches!(a.verify(&forged), Err(AuthError::Invalid(_))));
        assert!(matches!(
            a.verify("not.a.token"),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("1h"), Some(3600));
        assert_eq!(parse_ttl("90"), Some(90));
        assert_eq!(parse_ttl("2d"), Some(172_800));
        assert_eq!(parse_ttl("soon"), None);
    }
}
