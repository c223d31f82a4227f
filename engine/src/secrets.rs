//! Secrets at rest: API keys are sealed with ChaCha20-Poly1305 (an AEAD)
//! under a master key from `CHATBOT_MASTER_KEY`, and only their last four
//! characters are ever shown.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

/// Used when `CHATBOT_MASTER_KEY` is not set (a warning is logged).
const DEV_MASTER_KEY: &str = "switchboard-development-master-key";

/// Seals and opens secrets.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// A secret that could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the secret cannot be decrypted with this master key")]
pub struct OpenError;

impl Sealer {
    /// A sealer keyed by SHA-256 of `master` (any length of text).
    pub fn new(master: &str) -> Self {
        let key = Sha256::digest(master.as_bytes());
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// The sealer for `CHATBOT_MASTER_KEY`, or the development key (and
    /// `true`) when it is not set.
    pub fn from_env() -> (Self, bool) {
        match std::env::var("CHATBOT_MASTER_KEY") {
            Ok(k) if !k.is_empty() => (Self::new(&k), false),
            _ => (Self::new(DEV_MASTER_KEY), true),
        }
    }

    /// Seals `secret`: hex of a random 12-byte nonce and the ciphertext.
    pub fn seal(&self, secret: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let sealed = self
            .cipher
            .encrypt(&nonce, secret.as_bytes())
            .unwrap_or_default();
        format!("{}{}", hex::encode(nonce), hex::encode(sealed))
    }

    /// Opens what [`Sealer::seal`] made.
    pub fn open(&self, sealed: &str) -> Result<String, OpenError> {
        let bytes = hex::decode(sealed).map_err(|_| OpenError)?;
        if bytes.len() < 12 + 16 {
            return Err(OpenError);
        }
        let (nonce, data) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), data)
            .map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

/// The last four characters, for display; nothing of a key shorter than
/// twelve characters.
pub fn last4(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 12 {
        return "****".to_owned();
    }
    chars[chars.len() - 4..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_refuses_the_wrong_key() {
        let s = Sealer::new("master");
        let sealed = s.seal("sk-very-secret-1234");
        assert!(!sealed.contains("secret"));
        assert_ne!(
            sealed,
            s.seal("sk-very-secret-1234"),
            "fresh nonce each time"
        );
        assert_eq!(s.open(&sealed).unwrap(), "sk-very-secret-1234");
        assert_eq!(Sealer::new("other").open(&sealed), Err(OpenError));
        assert_eq!(last4("sk-very-secret-1234"), "1234");
        assert_eq!(last4("short"), "****");
    }
}
