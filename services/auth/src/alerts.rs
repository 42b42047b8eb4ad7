//! Budget alerts pushed to an operator's webhook (`auth.alert_webhook_url`).
//!
//! The quota shard raises `budget.alert` when a grant takes a budget's period
//! spend across its `alert_percent`, and `budget.exceeded` when the period's
//! first request is refused for the budget. Besides the warning log and the
//! metric, each is POSTed as JSON to the webhook, off the shard's path: the
//! shard only queues it (a bounded queue; when full the alert is dropped and
//! counted), and one task delivers, retrying a failed delivery (connection
//! error, timeout, 5xx or 429) twice with backoff. Delivery is at most once per
//! event and in memory: an alert queued when the process stops is lost (the log
//! and the metric still have it).

use std::time::Duration;

use serde_json::{Value, json};
use switchyard_proto::auth::v1::{Budget, BudgetPeriod};
use switchyard_telemetry::{metrics, names};
use tokio::sync::mpsc;

use crate::AuthError;
use crate::quota::period_start;

/// Alerts waiting for delivery at most.
const QUEUE: usize = 1_024;
/// Attempts per alert.
const ATTEMPTS: u32 = 3;
/// One delivery attempt's limit.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The wait before the second attempt; doubled before the third.
const BACKOFF: Duration = Duration::from_millis(500);

/// The sending side of the webhook's delivery task. Cheap to clone.
#[derive(Clone)]
pub struct AlertHook {
    queue: mpsc::Sender<Value>,
}

impl AlertHook {
    /// Starts delivering to `url` on the current tokio runtime.
    pub fn start(url: &str) -> Result<Self, AuthError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| AuthError::Internal("budget alert webhook needs a tokio runtime"))?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|_| AuthError::Internal("budget alert webhook client"))?;
        let (queue, pending) = mpsc::channel(QUEUE);
        runtime.spawn(deliver(client, url.to_string(), pending));
        Ok(Self { queue })
    }

    /// Queues the alert of `subject` (`key:<id>` or `tenant:<name>`), whose
    /// spend this period is now `spent_micros` of `budget`, at `now` (Unix
    /// seconds): `budget.alert`, its `alert_percent` crossed.
    pub fn budget_crossed(&self, subject: &str, budget: &Budget, spent_micros: i64, now: i64) {
        self.queue_alert(payload("budget.alert", subject, budget, spent_micros, now));
    }

    /// Queues `budget.exceeded`: the period's first request refused for
    /// `subject`'s budget, which needed `refused_micros` more.
    pub fn budget_exceeded(
        &self,
        subject: &str,
        budget: &Budget,
        spent_micros: i64,
        refused_micros: i64,
        now: i64,
    ) {
        let mut alert = payload("budget.exceeded", subject, budget, spent_micros, now);
        alert["refused_micros"] = json!(refused_micros);
        self.queue_alert(alert);
    }

    fn queue_alert(&self, alert: Value) {
        if let Err(full) = self.queue.try_send(alert) {
            let alert = full.into_inner();
            tracing::warn!(subject = %alert["subject"], "budget alert webhook queue full; alert dropped");
            metrics::counter!(names::BUDGET_ALERT_WEBHOOKS, "outcome" => "dropped").increment(1);
        }
    }
}

/// The JSON an alert of type `event` is POSTed as.
fn payload(event: &str, subject: &str, budget: &Budget, spent_micros: i64, now: i64) -> Value {
    let period = BudgetPeriod::try_from(budget.period).unwrap_or(BudgetPeriod::Unspecified);
    let (kind, id) = subject.split_once(':').unwrap_or(("", subject));
    json!({
        "type": event,
        "subject": subject,
        "subject_kind": kind,
        "subject_id": id,
        "spent_micros": spent_micros,
        "limit_micros": budget.limit_micros,
        "alert_percent": budget.alert_percent,
        "period": match period {
            BudgetPeriod::Daily => "daily",
            BudgetPeriod::Weekly => "weekly",
            BudgetPeriod::Monthly => "monthly",
            BudgetPeriod::Lifetime | BudgetPeriod::Unspecified => "lifetime",
        },
        "period_start": rfc3339(period_start(period, now)),
        "time": rfc3339(now),
    })
}

fn rfc3339(secs: i64) -> String {
    prost_types::Timestamp {
        seconds: secs,
        nanos: 0,
    }
    .to_string()
}

/// Delivers queued alerts one after another until every hook is dropped.
async fn deliver(client: reqwest::Client, url: String, mut pending: mpsc::Receiver<Value>) {
    while let Some(alert) = pending.recv().await {
        let mut wait = BACKOFF;
        let mut outcome = "failed";
        for attempt in 1..=ATTEMPTS {
            match client.post(&url).json(&alert).send().await {
                Ok(answer) if answer.status().is_success() => {
                    outcome = "delivered";
                    break;
                }
                Ok(answer) => {
                    let status = answer.status();
                    tracing::warn!(%status, attempt, "budget alert webhook refused the alert");
                    if !(status.is_server_error() || status.as_u16() == 429) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, attempt, "budget alert webhook unreachable");
                }
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        metrics::counter!(names::BUDGET_ALERT_WEBHOOKS, "outcome" => outcome).increment(1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use switchyard_proto::auth::v1::{
        AcquireRequest, AcquireResponse, Amounts, QuotaDimension, QuotaSubject,
    };

    use super::*;
    use crate::quota::QuotaShard;

    /// A webhook on 127.0.0.1:0 that answers 500 to its first `fail_first`
    /// POSTs, then 200; every body it gets is sent on the returned channel.
    async fn webhook(fail_first: u32) -> (String, mpsc::UnboundedReceiver<Value>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let calls = Arc::new(AtomicU32::new(0));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (tx, calls) = (tx.clone(), calls.clone());
                async move {
                    tx.send(body).ok();
                    if calls.fetch_add(1, Ordering::SeqCst) < fail_first {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, rx)
    }

    async fn next(rx: &mut mpsc::UnboundedReceiver<Value>) -> Value {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("the webhook is called")
            .unwrap()
    }

    /// A grant that takes the spend across the alert threshold reaches the
    /// webhook from the real shard; a 500 is retried.
    #[tokio::test]
    async fn a_crossed_alert_is_posted_and_retried_after_a_500() {
        let (url, mut posts) = webhook(1).await;
        let db = sled::Config::new().temporary(true).open().unwrap();
        let shard = QuotaShard::open(&db, Some(AlertHook::start(&url).unwrap())).unwrap();
        let budget = Budget {
            limit_micros: 1_000,
            period: BudgetPeriod::Monthly as i32,
            alert_percent: Some(80),
        };
        let ask = |key: &str, micros| AcquireRequest {
            router_id: "router-1".into(),
            subject: Some(QuotaSubject {
                id: format!("key:{key}"),
                limits: None,
                budget: Some(budget),
            }),
            need: Some(Amounts {
                micros,
                ..Amounts::default()
            }),
            extra: None,
        };
        for micros in [500, 400, 50] {
            shard.acquire(&ask("k1", micros)).await.unwrap();
        }
        let first = next(&mut posts).await;
        assert_eq!(first["type"], "budget.alert");
        assert_eq!(first["subject"], "key:k1");
        assert_eq!(first["spent_micros"], 900);
        assert_eq!(first["limit_micros"], 1_000);
        assert_eq!(first["period"], "monthly");
        // Answered 500: the same alert again.
        assert_eq!(next(&mut posts).await, first);

        // The period's first refusal for the budget is announced, once: a
        // second refusal, and one after the shard restarts, are not (the next
        // post is another key's alert, queued after them).
        let refused = |r: AcquireResponse| r.refused() == QuotaDimension::Budget;
        assert!(refused(shard.acquire(&ask("k1", 100)).await.unwrap()));
        assert!(refused(shard.acquire(&ask("k1", 100)).await.unwrap()));
        let exceeded = next(&mut posts).await;
        assert_eq!(exceeded["type"], "budget.exceeded");
        assert_eq!(exceeded["subject"], "key:k1");
        assert_eq!(
            (
                exceeded["spent_micros"].clone(),
                exceeded["refused_micros"].clone()
            ),
            (json!(950), json!(100))
        );
        drop(shard);
        let (url, mut posts) = webhook(0).await;
        let shard = QuotaShard::open(&db, Some(AlertHook::start(&url).unwrap())).unwrap();
        assert!(refused(shard.acquire(&ask("k1", 100)).await.unwrap()));
        shard.acquire(&ask("k2", 900)).await.unwrap();
        let after = next(&mut posts).await;
        assert_eq!(
            (after["type"].clone(), after["subject"].clone()),
            (json!("budget.alert"), json!("key:k2"))
        );
    }

    #[test]
    fn the_payload_names_the_subject_budget_and_period() {
        let budget = Budget {
            limit_micros: 5_000_000,
            period: BudgetPeriod::Monthly as i32,
            alert_percent: Some(80),
        };
        // 2026-12-08T01:00:00Z.
        let alert = payload(
            "budget.alert",
            "tenant:acme",
            &budget,
            4_100_000,
            1_796_691_600,
        );
        assert_eq!(
            alert,
            json!({
                "type": "budget.alert", "subject": "tenant:acme", "subject_kind": "tenant",
                "subject_id": "acme", "spent_micros": 4_100_000, "limit_micros": 5_000_000,
                "alert_percent": 80, "period": "monthly",
                "period_start": "2026-12-01T00:00:00Z", "time": "2026-12-08T01:00:00Z"
            })
        );
    }
}
