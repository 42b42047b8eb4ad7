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
    /// Query call without the admin token.
    #[error("admin token missing or invalid")]
    AdminUnauthenticated,
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
            MeteringError::NotFound(_) => ApiError::new(ErrorCode::NotFound, err.to_string()),
            MeteringError::AdminUnauthenticated => {
                ApiError::new(ErrorCode::Unauthenticated, err.to_string())
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
