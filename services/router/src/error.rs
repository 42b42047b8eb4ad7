//! The router crate's start-up errors. Request-time errors are `ApiError`s mapped to
//! `google.rpc.Status` where they are returned.

/// Why the router could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] switchyard_config::ConfigError),
    /// Channel or server failure.
    #[error(transparent)]
    Grpc(#[from] switchyard_grpc::GrpcError),
}
