//! `switchyard keys …` (create, list, update, rotate, revoke), and what every admin command shares: the connection, the
//! admin token, and the formatting of times and errors. The admin commands
//! are thin clients of the admin gRPC APIs.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::{Args, Subcommand};
use switchyard_proto::auth::v1::key_admin_client::KeyAdminClient;
use switchyard_proto::auth::v1::{
    CreateKeyRequest, Key, ListKeysRequest, RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest,
};
use tonic::transport::Channel;

use super::tenants::{PolicyFlags, fmt_budget, fmt_labels, fmt_limits, fmt_models};

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
    /// Create a key; the full key is printed once and never stored. The tenant is
    /// created (with no limits) if it does not exist, unless --existing-tenant.
    Create {
        /// Tenant the key belongs to.
        #[arg(long)]
        tenant: String,
        /// Refuse to create the tenant: it must exist already (`switchyard tenants
        /// create`).
        #[arg(long)]
        existing_tenant: bool,
        /// A label for humans.
        #[arg(long, default_value = "")]
        name: String,
        /// Expire after this many days.
        #[arg(long)]
        expires_in_days: Option<u64>,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Change a key; only the flags given change.
    Update {
        /// The key id (as listed).
        key_id: String,
        /// A new label for humans.
        #[arg(long)]
        name: Option<String>,
        /// Expire this many days from now (0: never).
        #[arg(long)]
        expires_in_days: Option<u64>,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Issue a replacement key (same tenant, models, limits, budget, labels); the
    /// new full key is printed once. The old key keeps working for the overlap.
    Rotate {
        /// The key id (as listed).
        key_id: String,
        /// Hours the old key keeps working (at most 720; 0: stop it now).
        #[arg(long, default_value_t = 24)]
        overlap_hours: u32,
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
            existing_tenant,
            name,
            expires_in_days,
            policy,
        } => {
            let created = client
                .create_key(args.conn.request(CreateKeyRequest {
                    tenant,
                    name,
                    allowed_models: policy.models(),
                    expires_at: expires_in_days.map(days_from_now).transpose()?,
                    labels: policy.labels(),
                    limits: policy.limits(),
                    budget: policy.budget(),
                    create_tenant: !existing_tenant,
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
        KeysCommand::Update {
            key_id,
            name,
            expires_in_days,
            policy,
        } => {
            let mut paths = policy.mask_paths();
            if name.is_some() {
                paths.push("name".into());
            }
            if expires_in_days.is_some() {
                paths.push("expires_at".into());
            }
            if paths.is_empty() {
                anyhow::bail!("nothing to change: give at least one flag");
            }
            let key = client
                .update_key(
                    args.conn.request(UpdateKeyRequest {
                        key: Some(Key {
                            id: key_id,
                            name: name.unwrap_or_default(),
                            allowed_models: policy.models(),
                            expires_at: expires_in_days
                                .filter(|d| *d > 0)
                                .map(days_from_now)
                                .transpose()?,
                            labels: policy.labels(),
                            limits: policy.limits(),
                            budget: policy.budget(),
                            ..Default::default()
                        }),
                        update_mask: Some(prost_types::FieldMask { paths }),
                    })?,
                )
                .await
                .map_err(status_error)?
                .into_inner();
            println!(
                "updated {} ({}): models {} limits {} budget {} labels {} expires {}",
                key.prefix,
                key.id,
                fmt_models(&key.allowed_models),
                fmt_limits(key.limits.as_ref()),
                fmt_budget(key.budget.as_ref()),
                fmt_labels(&key.labels),
                fmt_time(key.expires_at.as_ref())
            );
        }
        KeysCommand::Rotate {
            key_id,
            overlap_hours,
        } => {
            let overlap_seconds = overlap_hours
                .checked_mul(3600)
                .context("--overlap-hours is too large (at most 720)")?;
            let rotated = client
                .rotate_key(args.conn.request(RotateKeyRequest {
                    key_id: key_id.clone(),
                    overlap_seconds: Some(overlap_seconds),
                })?)
                .await
                .map_err(status_error)?
                .into_inner();
            let key = rotated.key.unwrap_or_default();
            println!("{}", rotated.secret);
            eprintln!(
                "rotated {key_id} to {} (id {}); the old key stops in {overlap_hours} h; \
                 store the new key now, it is not shown again",
                key.prefix, key.id
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

fn days_from_now(days: u64) -> anyhow::Result<prost_types::Timestamp> {
    days.checked_mul(86_400)
        .and_then(|s| SystemTime::now().checked_add(Duration::from_secs(s)))
        .map(prost_types::Timestamp::from)
        .context("--expires-in-days is too large")
}

fn state(key: &Key) -> &'static str {
    if key.revoked_at.is_some() {
        "revoked"
    } else if !key.replaced_by.is_empty() {
        let ended = key
            .overlap_ends_at
            .and_then(|e| SystemTime::try_from(e).ok())
            .is_none_or(|e| e <= SystemTime::now());
        if ended { "rotated" } else { "rotating" }
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
