//! `switchyard tenants …`, and the policy flags tenants and keys share (`--models`,
//! `--rpm`, `--tpm`, `--concurrency`, `--budget-usd`, `--budget-period`,
//! `--alert-percent`, `--label`). On an update only the flags given go into the
//! update mask, one limit or budget field at a time, so `--rpm 100` leaves the
//! other limits alone.

use std::collections::HashMap;

use clap::{Args, Subcommand, ValueEnum};
use switchyard_edge::usage::usd;
use switchyard_proto::auth::v1::tenant_admin_client::TenantAdminClient;
use switchyard_proto::auth::v1::{
    Budget, BudgetPeriod, CreateTenantRequest, DisableTenantRequest, EnableTenantRequest,
    GetTenantRequest, Limits, ListTenantsRequest, Tenant, UpdateTenantRequest,
};

use super::admin::{AdminConn, fmt_time, status_error};

/// When a budget resets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum Period {
    Daily,
    Weekly,
    Monthly,
    Lifetime,
}

impl From<Period> for BudgetPeriod {
    fn from(p: Period) -> Self {
        match p {
            Period::Daily => Self::Daily,
            Period::Weekly => Self::Weekly,
            Period::Monthly => Self::Monthly,
            Period::Lifetime => Self::Lifetime,
        }
    }
}

/// Dollars ("12.50") to micro-dollars, exactly: no floating point.
fn parse_usd(text: &str) -> Result<i64, String> {
    let micros = switchyard_config::MicrosPerMillion::parse_dollars(text)?.0;
    i64::try_from(micros).map_err(|_| format!("`{text}` is too large"))
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{text}` is not key=value")),
    }
}

/// Allowlist, limits, budget and labels, for tenants and keys.
#[derive(Debug, Args)]
pub(super) struct PolicyFlags {
    /// Allowed models (names or globs, comma-separated); `--models ''` allows every
    /// model.
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Requests per minute (0: unlimited).
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute (0: unlimited).
    #[arg(long)]
    tpm: Option<u64>,
    /// Concurrent requests (0: unlimited).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Budget in US dollars, exact to the micro-dollar (`12.50`).
    #[arg(long, value_parser = parse_usd)]
    budget_usd: Option<i64>,
    /// When the budget resets (UTC, calendar-aligned; weeks start on Monday).
    #[arg(long, value_enum)]
    budget_period: Option<Period>,
    /// Raise a soft alert at this percent of the budget (1-100; 0: no alert).
    #[arg(long)]
    alert_percent: Option<u32>,
    /// Remove the budget (updates only).
    #[arg(long, conflicts_with_all = ["budget_usd", "budget_period", "alert_percent"])]
    no_budget: bool,
    /// A label `key=value` (repeatable). On an update, replaces every label.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

/// A flag value of 0 means "unset".
fn nonzero<T: PartialEq + Default>(v: Option<T>) -> Option<T> {
    v.filter(|v| *v != T::default())
}

impl PolicyFlags {
    pub(super) fn models(&self) -> Vec<String> {
        self.models
            .iter()
            .flatten()
            .filter(|m| !m.is_empty())
            .cloned()
            .collect()
    }

    pub(super) fn limits(&self) -> Option<Limits> {
        let l = Limits {
            requests_per_minute: nonzero(self.rpm),
            tokens_per_minute: nonzero(self.tpm),
            max_concurrent: nonzero(self.concurrency),
        };
        (l != Limits::default()).then_some(l)
    }

    pub(super) fn budget(&self) -> Option<Budget> {
        let given = self.budget_usd.is_some()
            || self.budget_period.is_some()
            || self.alert_percent.is_some();
        (given && !self.no_budget).then(|| Budget {
            limit_micros: self.budget_usd.unwrap_or_default(),
            period: self
                .budget_period
                .map_or(BudgetPeriod::Unspecified, BudgetPeriod::from) as i32,
            alert_percent: nonzero(self.alert_percent),
        })
    }

    pub(super) fn labels(&self) -> HashMap<String, String> {
        self.labels.iter().cloned().collect()
    }

    /// The update-mask paths of the flags given.
    pub(super) fn mask_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        let mut add = |given: bool, path: &str| {
            if given {
                paths.push(path.to_string());
            }
        };
        add(self.models.is_some(), "allowed_models");
        add(self.rpm.is_some(), "limits.requests_per_minute");
        add(self.tpm.is_some(), "limits.tokens_per_minute");
        add(self.concurrency.is_some(), "limits.max_concurrent");
        add(self.no_budget, "budget");
        add(self.budget_usd.is_some(), "budget.limit_micros");
        add(self.budget_period.is_some(), "budget.period");
        add(self.alert_percent.is_some(), "budget.alert_percent");
        add(!self.labels.is_empty(), "labels");
        paths
    }
}

#[derive(Debug, Args)]
pub struct TenantsArgs {
    #[command(flatten)]
    conn: AdminConn,
    #[command(subcommand)]
    command: TenantsCommand,
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// Create a tenant.
    Create {
        /// 1-64 letters, digits, '-', '_' or '.'.
        name: String,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Show a tenant.
    Get { name: String },
    /// List tenants.
    List,
    /// Change a tenant; only the flags given change.
    Update {
        name: String,
        #[command(flatten)]
        policy: PolicyFlags,
    },
    /// Disable a tenant: every key of it is refused until it is enabled.
    Disable { name: String },
    /// Enable a disabled tenant.
    Enable { name: String },
}

pub async fn run(config_path: &str, args: TenantsArgs) -> anyhow::Result<()> {
    let mut client = TenantAdminClient::new(args.conn.channel(config_path).await?);
    let conn = &args.conn;
    let tenant = match args.command {
        TenantsCommand::Create { name, policy } => {
            client
                .create_tenant(conn.request(CreateTenantRequest {
                    tenant: Some(Tenant {
                        name,
                        allowed_models: policy.models(),
                        limits: policy.limits(),
                        budget: policy.budget(),
                        labels: policy.labels(),
                        ..Default::default()
                    }),
                })?)
                .await
        }
        TenantsCommand::Get { name } => {
            client
                .get_tenant(conn.request(GetTenantRequest { name })?)
                .await
        }
        TenantsCommand::List => {
            let tenants = client
                .list_tenants(conn.request(ListTenantsRequest {})?)
                .await
                .map_err(status_error)?
                .into_inner()
                .tenants;
            println!(
                "{:<20} {:<9} {:<24} {:<24} {:<28} LABELS",
                "NAME", "STATE", "MODELS", "LIMITS", "BUDGET"
            );
            for t in tenants {
                println!(
                    "{:<20} {:<9} {:<24} {:<24} {:<28} {}",
                    t.name,
                    if t.disabled_at.is_some() {
                        "disabled"
                    } else {
                        "active"
                    },
                    fmt_models(&t.allowed_models),
                    fmt_limits(t.limits.as_ref()),
                    fmt_budget(t.budget.as_ref()),
                    fmt_labels(&t.labels)
                );
            }
            return Ok(());
        }
        TenantsCommand::Update { name, policy } => {
            let paths = policy.mask_paths();
            if paths.is_empty() {
                anyhow::bail!("nothing to change: give at least one flag");
            }
            client
                .update_tenant(conn.request(UpdateTenantRequest {
                    tenant: Some(Tenant {
                        name,
                        allowed_models: policy.models(),
                        limits: policy.limits(),
                        budget: policy.budget(),
                        labels: policy.labels(),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask { paths }),
                })?)
                .await
        }
        TenantsCommand::Disable { name } => {
            client
                .disable_tenant(conn.request(DisableTenantRequest { name })?)
                .await
        }
        TenantsCommand::Enable { name } => {
            client
                .enable_tenant(conn.request(EnableTenantRequest { name })?)
                .await
        }
    }
    .map_err(status_error)?
    .into_inner();
    print_tenant(&tenant);
    Ok(())
}

fn print_tenant(t: &Tenant) {
    println!("tenant   {}", t.name);
    println!(
        "state    {}",
        if t.disabled_at.is_some() {
            "disabled"
        } else {
            "active"
        }
    );
    println!("models   {}", fmt_models(&t.allowed_models));
    println!("limits   {}", fmt_limits(t.limits.as_ref()));
    println!("budget   {}", fmt_budget(t.budget.as_ref()));
    println!("labels   {}", fmt_labels(&t.labels));
    println!("created  {}", fmt_time(t.created_at.as_ref()));
}

pub(super) fn fmt_models(models: &[String]) -> String {
    if models.is_empty() {
        "*".into()
    } else {
        models.join(",")
    }
}

pub(super) fn fmt_limits(l: Option<&Limits>) -> String {
    let Some(l) = l else { return "-".into() };
    let part = |name: &str, v: Option<String>| v.map(|v| format!("{name}={v}"));
    let parts: Vec<String> = [
        part("rpm", l.requests_per_minute.map(|v| v.to_string())),
        part("tpm", l.tokens_per_minute.map(|v| v.to_string())),
        part("conc", l.max_concurrent.map(|v| v.to_string())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}

pub(super) fn fmt_budget(b: Option<&Budget>) -> String {
    let Some(b) = b else { return "-".into() };
    let period = BudgetPeriod::try_from(b.period)
        .map_or("?", |p| p.as_str_name())
        .trim_start_matches("BUDGET_PERIOD_")
        .to_lowercase();
    let alert = b
        .alert_percent
        .map(|p| format!(" alert@{p}%"))
        .unwrap_or_default();
    format!("${} {period}{alert}", usd(b.limit_micros))
}

pub(super) fn fmt_labels(labels: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    if pairs.is_empty() {
        "-".into()
    } else {
        pairs.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_exact() {
        assert_eq!(parse_usd("12.50"), Ok(12_500_000));
        assert_eq!(parse_usd("0.000001"), Ok(1));
        assert!(parse_usd("0.0000001").is_err());
        assert!(parse_usd("-1").is_err());
        assert_eq!(
            fmt_budget(Some(&Budget {
                limit_micros: 12_500_000,
                period: BudgetPeriod::Monthly as i32,
                alert_percent: Some(80),
            })),
            "$12.500000 monthly alert@80%"
        );
    }
}
