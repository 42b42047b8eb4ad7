//! A string that never prints.

use std::fmt;

/// A credential read from the environment. `Debug` and `Display` print `***`, so a
/// secret cannot reach a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must send it (an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the variable `var`; `key` is the config key that named it, for the error.
    pub fn from_env(key: &str, var: &str) -> Result<Self, crate::ConfigError> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Self(v)),
            _ => Err(crate::ConfigError::invalid(
                key,
                format!("environment variable {var} is not set"),
            )),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s} {s:?}"), "*** ***");
        assert_eq!(s.expose(), "sk-very-secret");
    }
}
