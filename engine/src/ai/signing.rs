//! Request signing: HMAC-SHA256 over the method, path, timestamp, nonce
//! and body hash, sent in headers; and a [`Verifier`] that a receiving
//! service can use (it refuses a stale timestamp and a replayed nonce).
//!
//! The scheme, so that a service in any language can verify it:
//!
//! - Headers: `x-switchboard-timestamp` (Unix seconds), `x-switchboard-nonce`
//!   (32 hex characters, fresh per request), `x-switchboard-key-id`
//!   ([`key_id`] of the key used), `x-switchboard-content-sha256` (hex
//!   SHA-256 of the body) and `x-switchboard-signature` (`v1=` and the hex
//!   HMAC-SHA256).
//! - The canonical string is these lines joined by `\n`:
//!   `v1`, the method in upper case, the path with its query string (as
//!   sent: `/v1/chat/completions`), the timestamp, the nonce, and the hex
//!   SHA-256 of the body bytes.
//! - The HMAC key is the UTF-8 bytes of the service's API key.
//! - Verify: the timestamp is within ±300 s of the receiver's clock; the
//!   key id names a key the receiver holds (during a key rotation's grace
//!   period it holds both); the body hash matches the body received; the
//!   HMAC matches (compare in constant time); the nonce has not been seen
//!   in the last 600 s (then remember it).

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// `x-switchboard-timestamp`
pub const TIMESTAMP_HEADER: &str = "x-switchboard-timestamp";
/// `x-switchboard-nonce`
pub const NONCE_HEADER: &str = "x-switchboard-nonce";
/// `x-switchboard-key-id`
pub const KEY_ID_HEADER: &str = "x-switchboard-key-id";
/// `x-switchboard-content-sha256`
pub const CONTENT_HASH_HEADER: &str = "x-switchboard-content-sha256";
/// `x-switchboard-signature`
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";
/// How far a timestamp may be from the verifier's clock, in seconds.
pub const MAX_SKEW_SECS: u64 = 300;

/// The public id of a key: the first 16 hex characters of
/// SHA-256(`switchboard-key-id:` + key). It names the key without
/// revealing it.
pub fn key_id(key: &str) -> String {
    let digest = Sha256::digest(format!("switchboard-key-id:{key}").as_bytes());
    hex::encode(&digest[..8])
}

/// The canonical string that is signed.
pub fn canonical(method: &str, path: &str, timestamp: u64, nonce: &str, body: &[u8]) -> String {
    format!(
        "v1\n{}\n{}\n{}\n{}\n{}",
        method.to_ascii_uppercase(),
        path,
        timestamp,
        nonce,
        hex::encode(Sha256::digest(body))
    )
}

fn mac(key: &str) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as Mac>::new_from_slice(key.as_bytes()).unwrap_or_else(|_| unreachable!())
}

/// The headers of one signed request, as (name, value) pairs.
pub fn sign(
    key: &str,
    method: &str,
    path: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut m = mac(key);
    m.update(canonical(method, path, timestamp, nonce, body).as_bytes());
    let signature = hex::encode(m.finalize().into_bytes());
    vec![
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (NONCE_HEADER, nonce.to_owned()),
        (KEY_ID_HEADER, key_id(key)),
        (CONTENT_HASH_HEADER, hex::encode(Sha256::digest(body))),
        (SIGNATURE_HEADER, format!("v1={signature}")),
    ]
}

/// A fresh nonce: 32 random hex characters.
pub fn new_nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A signing header is absent or unreadable.
    #[error("missing or malformed header `{0}`")]
    Missing(&'static str),
    /// The timestamp is too far from now.
    #[error("stale timestamp: more than {MAX_SKEW_SECS} s from now")]
    Stale,
    /// No key with that id (or it expired).
    #[error("unknown or expired key id")]
    UnknownKey,
    /// The body does not match its hash.
    #[error("the body does not match its hash")]
    BodyHash,
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
    /// The nonce was seen before.
    #[error("replayed nonce")]
    Replayed,
}

/// A key the verifier accepts, until `not_after` (Unix seconds) if set.
#[derive(Clone)]
pub struct VerifierKey {
    /// The secret.
    pub secret: String,
    /// Last second it is accepted.
    pub not_after: Option<u64>,
}

impl std::fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierKey")
            .field("id", &key_id(&self.secret))
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// Verifies signed requests and remembers nonces (in memory: one
/// receiving process; a service with replicas would keep nonces in a
/// shared store).
#[derive(Debug)]
pub struct Verifier {
    keys: Vec<VerifierKey>,
    seen: Mutex<HashMap<String, u64>>,
}

impl Verifier {
    /// A verifier for `keys`.
    pub fn new(keys: Vec<VerifierKey>) -> Self {
        Self {
            keys,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// A verifier for one key that never expires.
    pub fn with_key(secret: &str) -> Self {
        Self::new(vec![VerifierKey {
            secret: secret.to_owned(),
            not_after: None,
        }])
    }

    /// Verifies a request whose headers are `headers`, at `now` (Unix
    /// seconds).
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        let get = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty() && v.len() <= 200)
                .ok_or(VerifyError::Missing(name))
        };
        let timestamp: u64 = get(TIMESTAMP_HEADER)?
            .parse()
            .map_err(|_| VerifyError::Missing(TIMESTAMP_HEADER))?;
        let nonce = get(NONCE_HEADER)?;
        let kid = get(KEY_ID_HEADER)?;
        let signature = get(SIGNATURE_HEADER)?
            .strip_prefix("v1=")
            .and_then(|s| hex::decode(s).ok())
            .ok_or(VerifyError::Missing(SIGNATURE_HEADER))?;
        if timestamp.abs_diff(now) > MAX_SKEW_SECS {
            return Err(VerifyError::Stale);
        }
        if let Ok(hash) = get(CONTENT_HASH_HEADER)
            && !hash.eq_ignore_ascii_case(&hex::encode(Sha256::digest(body)))
        {
            return Err(VerifyError::BodyHash);
        }
        let key = self
            .keys
            .iter()
            .find(|k| key_id(&k.secret) == kid && k.not_after.is_none_or(|t| now <= t))
            .ok_or(VerifyError::UnknownKey)?;
        let mut m = mac(&key.secret);
        m.update(canonical(method, path, timestamp, nonce, body).as_bytes());
        m.verify_slice(&signature)
            .map_err(|_| VerifyError::BadSignature)?;
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, at| at.abs_diff(now) <= 2 * MAX_SKEW_SECS);
        if seen.contains_key(nonce) {
            return Err(VerifyError::Replayed);
        }
        seen.insert(nonce.to_owned(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn verifies_and_refuses_replays_stale_tampered_and_unknown_keys() {
        let body = br#"{"query":"hi"}"#;
        let now = 1_700_000_000;
        let signed = headers(&sign("k-1", "POST", "/interpret", now, "n1", body));
        let v = Verifier::with_key("k-1");
        assert_eq!(
            v.verify("POST", "/interpret", &signed, body, now + 5),
            Ok(())
        );
        assert_eq!(
            v.verify("POST", "/interpret", &signed, body, now + 5),
            Err(VerifyError::Replayed)
        );
        let fresh = headers(&sign("k-1", "POST", "/interpret", now, "n2", body));
        assert_eq!(
            v.verify("POST", "/interpret", &fresh, body, now + 301),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            v.verify("POST", "/interpret", &fresh, b"{}", now),
            Err(VerifyError::BodyHash)
        );
        assert_eq!(
            v.verify("POST", "/other", &fresh, body, now),
            Err(VerifyError::BadSignature)
        );
        let other = headers(&sign("k-2", "POST", "/interpret", now, "n3", body));
        assert_eq!(
            v.verify("POST", "/interpret", &other, body, now),
            Err(VerifyError::UnknownKey)
        );
    }

    #[test]
    fn a_rotated_key_is_accepted_until_it_expires() {
        let now = 1_700_000_000;
        let v = Verifier::new(vec![
            VerifierKey {
                secret: "new".into(),
                not_after: None,
            },
            VerifierKey {
                secret: "old".into(),
                not_after: Some(now + 60),
            },
        ]);
        let old = headers(&sign("old", "POST", "/", now, "a", b""));
        assert_eq!(v.verify("POST", "/", &old, b"", now), Ok(()));
        let old = headers(&sign("old", "POST", "/", now + 61, "b", b""));
        assert_eq!(
            v.verify("POST", "/", &old, b"", now + 61),
            Err(VerifyError::UnknownKey)
        );
    }
}
