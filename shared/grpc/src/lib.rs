//! gRPC plumbing shared by every Switchyard service.
//!
//! - [`GrpcChannel`]: what every generated client runs on, either a network channel
//!   ([`connect_lazy`]) or the server itself in the same process ([`in_process`]), so
//!   the all-in-one shape exercises the exact contracts without sockets.
//! - [`serve`]: the one server bootstrap — health, reflection v1 and v1alpha, the
//!   request-context layer, graceful drain on shutdown.
//! - [`context`]: request ids and W3C trace context on every hop.
//! - [`GatewayHandle`], [`ProviderHandle`]: the clients on every request's path,
//!   over a channel or calling the server's implementation in the same process
//!   without encoding (see [`local`]); their streams read as [`Replies`].

mod admin;
pub mod channel;
pub mod context;
mod handles;
pub mod local;
mod replies;
mod server;

pub use admin::AdminToken;
pub use channel::{GrpcChannel, connect_lazy, in_process};
pub use context::{
    REQUEST_ID_HEADER, RequestId, accept_request_id, bearer_token, new_request_id, outgoing,
    request_id,
};
pub use handles::{GatewayHandle, ProviderHandle};
pub use replies::{LocalStream, Replies};
pub use server::{MAX_MESSAGE_BYTES, serve};

/// Why a channel or server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The configured URL is not usable; `key` is the config key that named it.
    #[error("config key `{key}`: invalid gRPC URL `{url}`")]
    InvalidUrl {
        /// Config key path.
        key: String,
        /// The URL.
        url: String,
    },
    /// The server failed while serving.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}
