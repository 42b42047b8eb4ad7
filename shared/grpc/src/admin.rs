//! The operator's admin token, checked the same way by every admin API.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchyard_config::{AdminConfig, Secret};

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The admin token, held only as a SHA-256 hash and compared in constant time.
/// Without a token configured every admin call is refused.
#[derive(Debug, Clone)]
pub struct AdminToken {
    hash: Option<[u8; 32]>,
}

impl AdminToken {
    /// From the token value (or none: refuse everything).
    pub fn new(token: Option<Secret>) -> Self {
        Self {
            hash: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
        }
    }

    /// From `[admin]`: the configured hash, else the token in `token_env`. Warns and
    /// refuses every admin call when neither is available.
    pub fn from_config(config: &AdminConfig) -> Self {
        if let Some(hash) = config.token_sha256.as_deref().and_then(parse_hex32) {
            return Self { hash: Some(hash) };
        }
        let token = Secret::from_env("admin.token_env", &config.token_env).ok();
        if token.is_none() {
            tracing::warn!(
                var = %config.token_env,
                "admin token not set: admin APIs will refuse every call"
            );
        }
        Self::new(token)
    }

    /// Whether `metadata` carries `authorization: Bearer <admin token>`.
    pub fn accepts(&self, metadata: &tonic::metadata::MetadataMap) -> bool {
        let (Some(expected), Some(presented)) = (&self.hash, crate::bearer_token(metadata)) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(expected).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_token() {
        let token = AdminToken::new(Some(Secret::new("s3cret")));
        let mut md = tonic::metadata::MetadataMap::new();
        assert!(!token.accepts(&md));
        md.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(token.accepts(&md));
        md.insert("authorization", "Bearer s3cre".parse().unwrap());
        assert!(!token.accepts(&md));
        assert!(!AdminToken::new(None).accepts(&md));
        // sha256("s3cret")
        let hashed = AdminToken::from_config(&AdminConfig {
            token_env: "UNUSED".into(),
            token_sha256: Some(
                "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0".into(),
            ),
        });
        md.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert!(hashed.accepts(&md));
    }
}
