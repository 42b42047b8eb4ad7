//! The auth crate's errors, and their one mapping to the wire.

use switchyard_error::{ApiError, ErrorCode};

/// Everything that can go wrong in auth.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown or malformed key.
    #[error("invalid API key")]
    InvalidKey,
    /// The key was revoked.
    #[error("API key {0} has been revoked")]
    Revoked(String),
    /// The key is past its expiry.
    #[error("API key {0} has expired")]
    Expired(String),
    /// The key was replaced by `RotateKey` and its overlap has ended.
    #[error("API key rotated: {0} was replaced by a new key")]
    Rotated(String),
    /// The key's tenant is disabled.
    #[error("tenant disabled: `{0}`")]
    TenantDisabled(String),
    /// The key may not use the model.
    #[error("API key {prefix} may not use model `{model}`")]
    ModelNotAllowed {
        /// The key's public prefix.
        prefix: String,
        /// The model asked for.
        model: String,
    },
    /// Admin call without a valid admin token.
    #[error("admin token missing or invalid")]
    AdminUnauthenticated,
    /// An admin request is invalid.
    #[error("{param}: {message}")]
    InvalidArgument {
        /// The field at fault.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// No key with this id.
    #[error("no key with id `{0}`")]
    KeyNotFound(String),
    /// No tenant with this name.
    #[error("no tenant named `{0}`")]
    TenantNotFound(String),
    /// A tenant with this name exists already. There is no ALREADY_EXISTS code in
    /// the shared mapping, so this is an invalid request naming `tenant.name`.
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    /// The store failed.
    #[error("key store: {0}")]
    Store(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("corrupt key record: {0}")]
    Corrupt(#[from] prost::DecodeError),
    /// Configuration problem at start-up.
    #[error(transparent)]
    Config(#[from] switchyard_config::ConfigError),
    /// A background task failed (a bug).
    #[error("{0}")]
    Internal(&'static str),
    /// The server failed.
    #[error(transparent)]
    Grpc(#[from] switchyard_grpc::GrpcError),
}

impl AuthError {
    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

impl From<AuthError> for tonic::Status {
    fn from(err: AuthError) -> Self {
        let api = match &err {
            AuthError::InvalidKey
            | AuthError::Revoked(_)
            | AuthError::Expired(_)
            | AuthError::Rotated(_)
            | AuthError::TenantDisabled(_) => {
                ApiError::new(ErrorCode::Unauthenticated, err.to_string())
            }
            AuthError::AdminUnauthenticated => {
                ApiError::new(ErrorCode::Unauthenticated, err.to_string())
            }
            AuthError::ModelNotAllowed { .. } => {
                ApiError::new(ErrorCode::PermissionDenied, err.to_string())
            }
            AuthError::InvalidArgument { param, message } => ApiError::invalid(param, message),
            AuthError::KeyNotFound(_) | AuthError::TenantNotFound(_) => {
                ApiError::new(ErrorCode::NotFound, err.to_string())
            }
            AuthError::TenantExists(_) => ApiError::invalid("tenant.name", err.to_string()),
            AuthError::Store(_)
            | AuthError::Corrupt(_)
            | AuthError::Config(_)
            | AuthError::Internal(_)
            | AuthError::Grpc(_) => {
                tracing::error!(error = %err, "auth internal error");
                ApiError::internal()
            }
        };
        api.to_status()
    }
}
