//! `switchyard keys …`, and what every admin command shares: the connection, the
//! admin token, and the formatting of times and errors. The admin commands
//! are thin clients of the admin gRPC APIs.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::{CreateKeyRequest, Key, ListKeysRequest, RevokeKeyRequest};
use tonic::transport::Channel;

/// Where and how to reach an admin API.
#[derive(Debug, Args)]
pub(super) struct AdminConn {
    /// gRPC URL of the admin API. Default: the router address from the config file
    /// (the all-in-one shape serves the admin APIs there); in a split deployment
    /// point it at auth (keys) or metering (usage).
    #[arg(long, env = "SWITCHYARD_ADMIN_URL")]
    url: Option<String>,
    /// The admin token.
    #[arg(long, env = "SWITCHYARD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
}

impl AdminConn {
    pub(super) async fn channel(&self, config_path: &str) -> anyhow::Result<Channel> {
        let url = match &self.url {
            Some(url) => url.clone(),
            None => {
                let listen = switchyard_config::load_file(config_path)
                    .map(|c| c.router.listen)
                    .unwrap_or_else(|_| "127.0.0.1:50051".into());
                let listen = listen.replace("0.0.0.0", "127.0.0.1");
                format!("http://{listen}")
            }
        };
        Channel::from_shared(url.clone())
            .with_context(|| format!("invalid --url {url}"))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .with_context(|| format!("cannot reach {url} (is `switchyard serve` running?)"))
    }

    pub(super) fn request<T>(&self, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let value = format!("Bearer {}", self.admin_token)
            .parse()
            .context("the admin token has characters not allowed in a header")?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key; the full key is printed once and never stored.
    Create {
        /// Tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// A label for humans.
        #[arg(long, default_value = "")]
        name: String,
        /// Allowed models (names or globs, comma-separated); default every model.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u64>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long, default_value = "")]
        tenant: String,
    },
    /// Revoke a key at once.
    Revoke {
        /// The key id (as listed).
        key_id: String,
    },
}

pub async fn keys(config_path: &str, args: KeysArgs) -> anyhow::Result<()> {
    let mut client = KeyAdminClient::new(args.conn.channel(config_path).await?);
    match args.command {
        KeysCommand::Create {
            tenant,
            name,
            models,
            expires_in_days,
        } => {
            let expires_at = expires_in_days.map(|d| {
                prost_types::Timestamp::from(SystemTime::now() + Duration::from_secs(d * 86_400))
            });
            let created = client
                .create_key(args.conn.request(CreateKeyRequest {
                    tenant,
                    name,
                    allowed_models: models,
                    expires_at,
                    labels: Default::default(),
                })?)
                .await
                .map_err(status_error)?
                .into_inner();
            let key = created.key.unwrap_or_default();
            println!("{}", created.secret);
            eprintln!(
                "created key {} (id {}) for tenant {}; store it now, it is not shown again",
                key.prefix, key.id, key.tenant
            );
        }
        KeysCommand::List { tenant } => {
            let keys = client
                .list_keys(args.conn.request(ListKeysRequest { tenant })?)
                .await
                .map_err(status_error)?
                .into_inner()
                .keys;
            println!(
                "{:<14} {:<18} {:<16} {:<8} {:<20} MODELS",
                "ID", "PREFIX", "TENANT", "STATE", "CREATED"
            );
            for key in keys {
                println!(
                    "{:<14} {:<18} {:<16} {:<8} {:<20} {}",
                    key.id,
                    key.prefix,
                    key.tenant,
                    state(&key),
                    fmt_time(key.created_at.as_ref()),
                    if key.allowed_models.is_empty() {
                        "*".to_string()
                    } else {
                        key.allowed_models.join(",")
                    }
                );
            }
        }
        KeysCommand::Revoke { key_id } => {
            let key = client
                .revoke_key(args.conn.request(RevokeKeyRequest { key_id })?)
                .await
                .map_err(status_error)?
                .into_inner();
            println!("revoked {} ({})", key.prefix, key.id);
        }
    }
    Ok(())
}

fn state(key: &Key) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if key
        .expires_at
        .and_then(|e| SystemTime::try_from(e).ok())
        .is_some_and(|e| e <= SystemTime::now())
    {
        "expired"
    } else {
        "active"
    }
}

/// A timestamp for tables: UTC, to the second (`2026-11-23 23:04:37`).
pub(super) fn fmt_time(t: Option<&prost_types::Timestamp>) -> String {
    let Some(t) = t else { return "-".into() };
    // prost-types renders RFC 3339 (`2026-11-23T23:04:37Z`); drop the fraction.
    let whole = prost_types::Timestamp {
        seconds: t.seconds,
        nanos: 0,
    };
    whole
        .to_string()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_string()
}

pub(super) fn status_error(status: tonic::Status) -> anyhow::Error {
    let err = switchyard_error::ApiError::from_status(&status);
    anyhow::anyhow!("{} ({})", err.message, err.code.reason())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            fmt_time(Some(&prost_types::Timestamp {
                seconds: 1_795_475_077,
                nanos: 0
            })),
            "2026-11-23 23:04:37"
        );
    }
}
