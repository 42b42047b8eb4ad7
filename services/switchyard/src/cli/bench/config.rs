//! The configuration the benchmark's gateway processes run with: every service's
//! address (the listeners themselves are passed in, but the split shape finds its
//! peers at these URLs), state in the bench's temporary directory, one
//! `openai-compatible` provider at the emulated upstream, and one gateway model per
//! benchmark case.

use std::net::SocketAddr;
use std::path::Path;

use super::cases::Case;

/// Environment variable holding the admin token the bench sets for its children.
pub const ADMIN_TOKEN_ENV: &str = "SWITCHYARD_BENCH_ADMIN_TOKEN";
/// Environment variable holding the key the gateway sends to the emulated upstream.
pub const UPSTREAM_KEY_ENV: &str = "SWITCHYARD_BENCH_UPSTREAM_KEY";

/// Where each service listens.
#[derive(Debug, Clone, Copy)]
pub struct Addrs {
    /// Edge HTTP.
    pub edge: SocketAddr,
    /// Router gRPC.
    pub router: SocketAddr,
    /// Auth gRPC.
    pub auth: SocketAddr,
    /// Metering gRPC.
    pub metering: SocketAddr,
    /// Provider-adapter gRPC.
    pub provider: SocketAddr,
}

/// A TOML basic string (JSON's escapes are a subset of TOML's).
fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The config text for a gateway whose state lives under `dir`.
pub fn text(dir: &Path, addrs: &Addrs, upstream_base_url: &str) -> String {
    let Addrs {
        edge,
        router,
        auth,
        metering,
        provider,
    } = addrs;
    let dir = dir.display().to_string();
    let data = |name: &str| quoted(&format!("{dir}/{name}"));
    let mut text = format!(
        r#"version = 1

[edge]
listen = "{edge}"
router_url = "http://{router}"
auth_url = "http://{auth}"
metering_url = "http://{metering}"

[router]
listen = "{router}"
auth_url = "http://{auth}"
metering_url = "http://{metering}"
provider_url = "http://{provider}"
outbox_dir = {outbox}

[auth]
listen = "{auth}"
data_dir = {auth_dir}

[metering]
listen = "{metering}"
data_dir = {metering_dir}
auth_url = "http://{auth}"

[provider_adapter]
listen = "{provider}"

[admin]
token_env = "{ADMIN_TOKEN_ENV}"

[telemetry]
log_filter = "warn"

[[providers]]
name = "bench-upstream"
kind = "openai-compatible"
base_url = {upstream}
api_key_env = "{UPSTREAM_KEY_ENV}"
"#,
        outbox = data("router-outbox"),
        auth_dir = data("auth"),
        metering_dir = data("metering"),
        upstream = quoted(upstream_base_url),
    );
    for case in Case::ALL {
        text.push_str(&format!(
            "\n[[models]]\nname = \"{}\"\ndeployments = [{{ provider = \"bench-upstream\", model = \"{}\" }}]\n",
            case.gateway_model(),
            case.upstream_model()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_config_loads() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let addrs = Addrs {
            edge: addr,
            router: addr,
            auth: addr,
            metering: addr,
            provider: addr,
        };
        let text = text(
            Path::new("/tmp/bench \"x\""),
            &addrs,
            "http://127.0.0.1:2/v1",
        );
        let config = switchyard_config::load_str(&text).unwrap();
        assert_eq!(config.models.len(), Case::ALL.len());
        assert!(text.contains("bench-stream"));
        assert!(text.contains(r#"data_dir = "/tmp/bench \"x\"/auth""#));
    }
}
