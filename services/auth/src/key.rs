//! The shape of a virtual key: `sy_<id>_<secret>`.
//!
//! The id (12 lowercase alphanumerics) is public: it finds the record and, with the
//! prefix, identifies the key in listings and logs. The secret (43 alphanumerics,
//! about 256 bits) is never stored; only SHA-256 of the whole key is.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// Every Switchyard virtual key starts with this.
pub const KEY_PREFIX: &str = "sy_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 43;

/// A presented key split into its parts.
#[derive(Debug)]
pub struct ParsedKey<'a> {
    /// The public id.
    pub id: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// Splits a presented key; `None` when it is not shaped like one of ours.
    pub fn parse(key: &'a str) -> Option<Self> {
        let rest = key.strip_prefix(KEY_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let ok = id.len() == ID_LEN
            && secret.len() == SECRET_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && secret.bytes().all(|b| b.is_ascii_alphanumeric());
        ok.then_some(Self { id })
    }
}

/// A fresh key: (id, full key).
pub(crate) fn generate() -> (String, String) {
    let mut rng = rand::rng();
    let id: String = (0..ID_LEN)
        .map(|_| {
            let n = rng.random_range(0..36u8);
            if n < 10 {
                (b'0' + n) as char
            } else {
                (b'a' + n - 10) as char
            }
        })
        .collect();
    let secret: String = (&mut rng)
        .sample_iter(Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let full = format!("{KEY_PREFIX}{id}_{secret}");
    (id, full)
}

/// SHA-256 of a whole key (keys are high-entropy, so a fast hash is enough).
pub(crate) fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// The public prefix shown in listings and logs.
pub(crate) fn display_prefix(id: &str) -> String {
    format!("{KEY_PREFIX}{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse() {
        let (id, key) = generate();
        let parsed = ParsedKey::parse(&key).unwrap();
        assert_eq!(parsed.id, id);
        assert_ne!(generate().1, key);
        assert!(ParsedKey::parse("sy_short_x").is_none());
        assert!(ParsedKey::parse("sk-openai-key").is_none());
        assert!(ParsedKey::parse(&key.replace('_', "-")).is_none());
    }
}
