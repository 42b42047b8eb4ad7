//! The metering crate's errors, and their one mapping to the wire.

use switchyard_error::{ApiError, ErrorCode};

/// Everything that can go wrong in metering.
#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    /// A record or query is invalid.
    #[error("{param}: {message}")]
    InvalidArgument {
        /// The field at fault.
        param: String,
        /// What is wrong.
        message: String,
    },
    /// No record with this request id.
    #[error("no usage record for request `{0}`")]
    NotFound(String),
    /// No stored response with this id (for this caller).
    #[error("Response with id '{0}' not found.")]
    ResponseNotFound(String),
    /// No conversation with this id (for this caller).
    #[error("Conversation with id '{0}' not found.")]
    ConversationNotFound(String),
    /// No item with this id in the conversation.
    #[error("Item with id '{0}' not found.")]
    ItemNotFound(String),
    /// Query call with neither the admin token nor a valid virtual key.
    #[error("send `authorization: Bearer <admin token or virtual key>`; none valid was given")]
    Unauthenticated,
    /// A virtual key asked about another tenant's usage.
    #[error("{0}")]
    PermissionDenied(String),
    /// The auth service could not resolve a virtual key (it is down or failing).
    #[error("auth service: {0}")]
    AuthUnavailable(String),
    /// The store failed.
    #[error("ledger store: {0}")]
    Store(String),
    /// A stored record does not decode.
    #[error("corrupt usage record: {0}")]
    Corrupt(#[from] prost::DecodeError),
    /// The server failed.
    #[error(transparent)]
    Grpc(#[from] switchyard_grpc::GrpcError),
}

impl MeteringError {
    pub(crate) fn invalid(param: &str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            param: param.to_string(),
            message: message.into(),
        }
    }
}

impl From<sled::Error> for MeteringError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<MeteringError> for tonic::Status {
    fn from(err: MeteringError) -> Self {
        let api = match &err {
            MeteringError::InvalidArgument { param, message } => ApiError::invalid(param, message),
            MeteringError::NotFound(_)
            | MeteringError::ResponseNotFound(_)
            | MeteringError::ConversationNotFound(_)
            | MeteringError::ItemNotFound(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
            MeteringError::Unauthenticated => {
                ApiError::new(ErrorCode::Unauthenticated, err.to_string())
            }
            MeteringError::PermissionDenied(message) => {
                ApiError::new(ErrorCode::PermissionDenied, message)
            }
            MeteringError::AuthUnavailable(_) => {
                tracing::warn!(error = %err, "cannot resolve a virtual key");
                ApiError::new(ErrorCode::ServiceUnavailable, "auth service unavailable")
            }
            MeteringError::Store(_) | MeteringError::Corrupt(_) | MeteringError::Grpc(_) => {
                tracing::error!(error = %err, "metering internal error");
                // Retryable: the router keeps the records and sends them again.
                ApiError::new(ErrorCode::ServiceUnavailable, "usage ledger unavailable")
            }
        };
        api.to_status()
    }
}
