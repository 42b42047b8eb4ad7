//! Switchyard's configuration: one TOML file (`version = 1`) with a section per
//! service, `[[providers]]` and `[[models]]`.
//!
//! Loading is strict so mistakes surface at start-up, not at the first request:
//! unknown keys are rejected, every error names the exact key path
//! (`providers[1].kind`), and [`Config::validate`] checks what types cannot
//! (references between sections, addresses, prices). Environment variables with the
//! prefix `SWITCHYARD__` override file values (`SWITCHYARD__ROUTER__LISTEN`,
//! `SWITCHYARD__PROVIDERS__0__BASE_URL`). Secrets are never in the file: a provider
//! names the variable holding its key (`api_key_env`), read into a [`Secret`].

mod load;
mod price;
mod secret;
mod types;
mod validate;

pub use load::{ENV_PREFIX, load_file, load_str, load_str_with_env};
pub use price::MicrosPerMillion;
pub use secret::Secret;
pub use types::*;

/// Why a configuration could not be used. Every variant names the key path.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    /// A value has the wrong type or an unknown key is present.
    #[error("config key `{key}`: {message}")]
    Type {
        /// The key path, e.g. `providers[0].kind`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A value is well-typed but not usable.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An environment override could not be applied.
    #[error("environment variable {var}: {message}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}
