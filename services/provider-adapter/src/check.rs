//! `switchyard providers check`: one minimal request to every configured provider
//! instance, to tell an operator before traffic does whether each is reachable
//! and accepts its credential, and how long it takes.

use std::time::{Duration, Instant};

use switchyard_config::Config;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{ChatRequest, ContentPart, Message, Role};

use crate::{AdapterError, ProviderAdapter, ProviderError};

/// What one provider instance answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// The `[[providers]]` name.
    pub provider: String,
    /// Its kind, as configured.
    pub kind: &'static str,
    /// The upstream model asked for: the first deployment naming this provider.
    pub model: Option<String>,
    /// Whether the provider answered at all (`None`: not asked).
    pub reachable: Option<bool>,
    /// Whether it accepted the credential (`None`: unknown).
    pub credential: Option<bool>,
    /// Time to the complete answer (or the error).
    pub latency: Option<Duration>,
    /// What went wrong, or what the answer says, in a few words.
    pub note: String,
}

/// Checks every provider of `config` concurrently, each bounded by `timeout`.
/// Fails only when the adapter cannot be built (the error names the config key).
pub async fn check(config: &Config, timeout: Duration) -> Result<Vec<CheckRow>, AdapterError> {
    let adapter = ProviderAdapter::from_config(config)?;
    let checks = config.providers.iter().map(|p| {
        let adapter = adapter.clone();
        let model = config
            .models
            .iter()
            .flat_map(|m| &m.deployments)
            .find(|d| d.provider == p.name)
            .map(|d| d.model.clone());
        async move {
            let mut row = CheckRow {
                provider: p.name.clone(),
                kind: p.kind.as_str(),
                model: model.clone(),
                reachable: None,
                credential: None,
                latency: None,
                note: String::new(),
            };
            let Some(model) = model else {
                row.note = "no [[models]] deployment uses it: not asked".into();
                return row;
            };
            let Some(backend) = adapter.backend(&p.name) else {
                row.note = "not built".into();
                return row;
            };
            let started = Instant::now();
            let answer = tokio::time::timeout(timeout, backend.chat(&model, &ping())).await;
            row.latency = Some(started.elapsed());
            classify(
                &mut row,
                answer.unwrap_or(Err(ProviderError::Timeout {
                    provider: p.name.clone(),
                })),
            );
            row
        }
    });
    Ok(futures::future::join_all(checks).await)
}

/// The smallest useful request: one short user message, one token back.
fn ping() -> ChatRequest {
    ChatRequest {
        model: String::new(),
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(Part::Text("ping".into())),
            }],
            ..Message::default()
        }],
        max_tokens: Some(1),
        ..ChatRequest::default()
    }
}

fn classify<T>(row: &mut CheckRow, answer: Result<T, ProviderError>) {
    let (reachable, credential, note) = match answer {
        Ok(_) => (Some(true), Some(true), "ok".to_string()),
        Err(ProviderError::Upstream {
            status: Some(status @ (401 | 403 | 498)),
            ..
        }) => (
            Some(true),
            Some(false),
            format!("HTTP {status}: credential rejected"),
        ),
        // Any other answer came past authentication: the key works, the request
        // did not (an unknown model, a quota).
        Err(ProviderError::Upstream { status, error, .. }) => {
            let what = error.message.as_deref().unwrap_or("rejected the request");
            let what: String = what.chars().take(80).collect();
            let status = status.map(|s| format!("HTTP {s}: ")).unwrap_or_default();
            (Some(true), Some(true), format!("{status}{what}"))
        }
        Err(e @ (ProviderError::Connect { .. } | ProviderError::Timeout { .. })) => {
            (Some(false), None, e.to_string())
        }
        Err(e @ ProviderError::InvalidRequest { .. }) => (None, None, e.to_string()),
        Err(e) => (Some(true), None, e.to_string()),
    };
    row.reachable = reachable;
    row.credential = credential;
    row.note = note;
}
