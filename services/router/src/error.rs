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
    /// A deployment's price cannot be determined.
    #[error("config key `{key}`: {message}")]
    Pricing {
        /// The config key path.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The usage shipper's thread could not start.
    #[error("cannot start the usage shipper's thread: {0}")]
    Shipper(#[source] std::io::Error),
    /// The durable usage outbox failed.
    #[error("config key `{key}`: usage outbox: {message}")]
    Outbox {
        /// The config key of the outbox.
        key: &'static str,
        /// What failed.
        message: String,
    },
}

impl RouterError {
    pub(crate) fn outbox(e: impl std::fmt::Display) -> Self {
        Self::Outbox {
            key: "router.outbox_dir",
            message: e.to_string(),
        }
    }
}
