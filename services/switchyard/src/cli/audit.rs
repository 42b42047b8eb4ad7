//! `switchyard audit [--target key:<id>] [--limit N] [--json]`: who changed what
//! through the admin APIs, newest first.

use clap::Args;
use switchyard_proto::auth::v1::ListAuditRequest;
use switchyard_proto::auth::v1::audit_log_client::AuditLogClient;

use super::admin::{AdminConn, fmt_time, status_error};

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    conn: AdminConn,
    /// Only changes to this object: `key:<id>` or `tenant:<name>`.
    #[arg(long, default_value = "")]
    target: String,
    /// At most this many records (at most 1000).
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(config_path: &str, args: AuditArgs) -> anyhow::Result<()> {
    let mut client = AuditLogClient::new(args.conn.channel(config_path).await?);
    let records = client
        .list_audit(args.conn.request(ListAuditRequest {
            target: args.target,
            limit: args.limit,
        })?)
        .await
        .map_err(status_error)?
        .into_inner()
        .records;
    if args.json {
        for r in records {
            let detail = serde_json::from_str::<serde_json::Value>(&r.detail)
                .unwrap_or(serde_json::Value::String(r.detail));
            let line = serde_json::json!({
                "id": r.id,
                "time": r.time.map(|t| t.to_string()),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": detail,
                "request_id": r.request_id,
            });
            println!("{line}");
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<28} {:<26} {:<28} DETAIL",
        "TIME", "ACTOR", "ACTION", "TARGET"
    );
    for r in records {
        println!(
            "{:<20} {:<28} {:<26} {:<28} {}",
            fmt_time(r.time.as_ref()),
            r.actor,
            r.action,
            r.target,
            r.detail
        );
    }
    Ok(())
}
