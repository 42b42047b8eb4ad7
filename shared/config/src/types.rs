//! The configuration tree. Every struct rejects unknown keys; every field not marked
//! required has a default that makes `switchyard serve` work on a laptop.

use serde::Deserialize;

use crate::MicrosPerMillion;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version; must be 1.
    pub version: u32,
    /// The HTTP edge.
    #[serde(default)]
    pub edge: EdgeConfig,
    /// The router (public gRPC API).
    #[serde(default)]
    pub router: RouterConfig,
    /// The auth service.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The metering service.
    #[serde(default)]
    pub metering: MeteringConfig,
    /// The provider-adapter service.
    #[serde(default)]
    pub provider_adapter: ProviderAdapterConfig,
    /// Logs and traces.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The operator's admin token, shared by every admin API.
    #[serde(default)]
    pub admin: AdminConfig,
    /// Provider instances (credentials and endpoints).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Model names clients ask for, and where they go.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Price-table entries that replace or extend the shipped price table
    /// (`[[prices]]`), for negotiated rates and models the table does not know.
    #[serde(default)]
    pub prices: Vec<PriceOverride>,
    /// Applying edits without a restart.
    #[serde(default)]
    pub reload: ReloadConfig,
}

/// `[reload]`: how edits to `[[providers]]`, `[[models]]` and `[[prices]]` are
/// applied without a restart. SIGHUP always reloads the file; other sections are
/// read at start-up only.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReloadConfig {
    /// Also reload when the file's content changes (checked every
    /// `poll_interval_ms`), so an edited file or a replaced ConfigMap applies
    /// without a signal.
    pub watch_file: bool,
    /// How often the file is read to see whether it changed.
    pub poll_interval_ms: u64,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        Self {
            watch_file: true,
            poll_interval_ms: 1_000,
        }
    }
}

/// `[edge]`: the OpenAI-compatible HTTP service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeConfig {
    /// HTTP listen address.
    pub listen: String,
    /// The router's gRPC URL, used when the router is not in the same process.
    pub router_url: String,
    /// Metering's gRPC URL (split shape), for the admin usage routes and stored
    /// responses.
    pub metering_url: String,
    /// Auth's gRPC URL (split shape), for the admin tenant, key and audit routes.
    pub auth_url: String,
    /// Largest accepted request body; larger bodies get 413.
    pub max_body_bytes: usize,
    /// Whether the Responses API stores answers in metering when `store` asks
    /// (OpenAI's default). Off, nothing a caller sends is kept at rest.
    pub store_responses: bool,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            router_url: "http://127.0.0.1:50051".into(),
            metering_url: "http://127.0.0.1:50053".into(),
            auth_url: "http://127.0.0.1:50052".into(),
            max_body_bytes: 4 * 1024 * 1024,
            store_responses: true,
        }
    }
}

/// `[router]`: the public gRPC Gateway API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// gRPC listen address. In the all-in-one shape this port also serves the admin
    /// APIs (KeyAdmin, UsageQuery).
    pub listen: String,
    /// The auth service's gRPC URL (split shape).
    pub auth_url: String,
    /// The metering service's gRPC URL (split shape).
    pub metering_url: String,
    /// The provider-adapter service's gRPC URL (split shape).
    pub provider_url: String,
    /// After a streaming client disconnects, how long to keep reading the upstream
    /// for its usage report before estimating.
    pub stream_drain_timeout_ms: u64,
    /// Most usage records shipped to metering in one call.
    pub usage_batch_size: usize,
    /// Directory of the router's durable usage outbox (a journal): records wait here
    /// until metering acknowledges them, across crashes and restarts.
    pub outbox_dir: String,
    /// Most records the outbox holds; when full, the router refuses new requests
    /// (UNAVAILABLE) rather than serve traffic it could not bill.
    pub outbox_max_records: u64,
    /// When a usage record is on disk relative to its answer.
    pub outbox_sync: OutboxSync,
    /// Under `outbox_sync = "journal"`, how long written records gather before
    /// one flush makes them durable on disk: what a power loss could take, and
    /// how often the disk is asked to sync.
    pub outbox_flush_ms: u64,
    /// The auth replicas holding rate-limit and budget counters (gRPC URLs). Each
    /// key's and tenant's counters live on one of them, chosen by rendezvous
    /// hashing; every router must list the same shards in the same form. Empty:
    /// `auth_url` alone.
    pub quota_shards: Vec<String>,
    /// Completion tokens assumed for a request that sets no `max_tokens`, when
    /// reserving tokens per minute and budget up front (settled to real usage
    /// when the request ends).
    pub estimate_max_tokens: u64,
    /// Most upstream attempts for one request, across its deployments and
    /// fallback models (1 disables retries and fallbacks).
    pub max_attempts: u32,
    /// Retries may add at most this percentage to recent first attempts (the
    /// retry budget), so retries cannot multiply an outage.
    pub retry_budget_percent: u32,
    /// Retries always allowed per second, whatever the budget (keeps low-traffic
    /// routers able to fall back).
    pub retry_budget_min_per_second: u32,
    /// First backoff before retrying the same deployment; doubles per attempt,
    /// with jitter, up to `retry_backoff_max_ms`.
    pub retry_backoff_ms: u64,
    /// Longest backoff (and longest provider `retry-after` honoured in place;
    /// a longer one moves on to the next deployment instead).
    pub retry_backoff_max_ms: u64,
    /// Consecutive retryable failures that open a deployment's circuit breaker:
    /// requests skip it until the cooldown ends, then one probe tests it.
    pub breaker_failures: u32,
    /// How long an open breaker keeps a deployment out (a provider's longer
    /// `retry-after` on a 429 keeps it out that long instead).
    pub breaker_cooldown_ms: u64,
    /// Percent of failed attempts, within `breaker_window_ms`, that also opens a
    /// deployment's circuit breaker (once `breaker_min_requests` attempts fell in
    /// the window). 0 disables the rule.
    pub breaker_failure_rate_percent: u32,
    /// Fewest attempts in the window before the failure rate can open a breaker,
    /// so a few unlucky requests on a quiet deployment do not.
    pub breaker_min_requests: u32,
    /// The rolling window the failure rate is measured over.
    pub breaker_window_ms: u64,
    /// How long a cached principal (the answer of `Auth.Authenticate` for a key) may
    /// be served without asking auth again, as a safety net: changes already evict
    /// it within one message of auth's change stream. 0 disables the cache, so every
    /// request asks auth.
    pub principal_cache_ttl_ms: u64,
    /// Most requests this router serves at once (a stream counts until it ends);
    /// past it a new request gets a fast UNAVAILABLE (HTTP 503) with a retry hint
    /// instead of joining a queue, so overload costs bounded memory and the
    /// requests already admitted keep their latency. 0: no limit.
    pub max_in_flight: u32,
    /// Memory for the response cache of models with `cache_ttl_secs`, in bytes
    /// (answers' encoded size plus a small overhead each); the oldest answers
    /// make room for new ones. Each router replica has its own. 0: nothing is
    /// cached, whatever the models say.
    pub cache_max_bytes: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".into(),
            auth_url: "http://127.0.0.1:50052".into(),
            metering_url: "http://127.0.0.1:50053".into(),
            provider_url: "http://127.0.0.1:50054".into(),
            stream_drain_timeout_ms: 30_000,
            usage_batch_size: 256,
            outbox_dir: "data/router-outbox".into(),
            outbox_max_records: 1_000_000,
            outbox_sync: OutboxSync::Journal,
            outbox_flush_ms: 50,
            quota_shards: Vec::new(),
            estimate_max_tokens: 4_096,
            max_attempts: 3,
            retry_budget_percent: 20,
            retry_budget_min_per_second: 10,
            retry_backoff_ms: 25,
            retry_backoff_max_ms: 2_000,
            breaker_failures: 5,
            breaker_cooldown_ms: 10_000,
            breaker_failure_rate_percent: 50,
            breaker_min_requests: 20,
            breaker_window_ms: 30_000,
            max_in_flight: 1_024,
            principal_cache_ttl_ms: 60_000,
            cache_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// `[auth]`: virtual keys and admission.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// gRPC listen address (split shape).
    pub listen: String,
    /// Directory of the sled database.
    pub data_dir: String,
    /// Where budget alerts are POSTed as JSON (a budget's `alert_percent`
    /// crossed); unset: alerts are logged and counted only.
    pub alert_webhook_url: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50052".into(),
            data_dir: "data/auth".into(),
            alert_webhook_url: None,
        }
    }
}

/// `[metering]`: the usage ledger.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeteringConfig {
    /// gRPC listen address (split shape).
    pub listen: String,
    /// Directory of the sled database.
    pub data_dir: String,
    /// The auth service's gRPC URL (split shape): resolves virtual keys so a tenant
    /// can query its own usage.
    pub auth_url: String,
    /// Days raw usage records are kept; aggregates are kept forever. 0 keeps
    /// records forever.
    pub retention_days: u32,
    /// How often the background compaction deletes records past retention (and
    /// stored responses past theirs).
    pub compaction_interval_secs: u64,
    /// Days stored Responses API answers (`store: true`) are kept, for
    /// `previous_response_id` and `GET /v1/responses/{id}`: 30, as OpenAI keeps them.
    pub responses_retention_days: u32,
    /// MiB of the ledger's pages sled keeps cached in memory. Writes go through the
    /// cache, so under load it fills to this size; summaries read a few pages
    /// and stay fast with a small one.
    pub cache_mb: u64,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50053".into(),
            data_dir: "data/metering".into(),
            auth_url: "http://127.0.0.1:50052".into(),
            retention_days: 0,
            compaction_interval_secs: 3600,
            responses_retention_days: 30,
            cache_mb: 16,
        }
    }
}

/// `[admin]`: the operator's token for KeyAdmin, UsageQuery and admin HTTP routes.
/// Give either the variable holding the token, or only its SHA-256 so the token
/// itself appears nowhere in the deployment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Environment variable holding the admin token.
    pub token_env: String,
    /// Hex SHA-256 of the admin token; when set, `token_env` is not read.
    pub token_sha256: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token_env: "SWITCHYARD_ADMIN_TOKEN".into(),
            token_sha256: None,
        }
    }
}

/// `[provider_adapter]`: calls to providers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderAdapterConfig {
    /// gRPC listen address (split shape).
    pub listen: String,
    /// TCP connect timeout toward providers.
    pub connect_timeout_ms: u64,
    /// Longest wait for a provider's response headers, and longest gap between
    /// streamed bytes.
    pub read_timeout_ms: u64,
}

impl Default for ProviderAdapterConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50054".into(),
            connect_timeout_ms: 5_000,
            read_timeout_ms: 120_000,
        }
    }
}

/// `[telemetry]`: logs and traces.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// A `tracing` filter (`info`, `switchyard_router=debug,info`). `RUST_LOG` wins.
    pub log_filter: String,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces (`http://127.0.0.1:4317`); unset disables export.
    pub otlp_endpoint: Option<String>,
    /// Address of the Prometheus `GET /metrics` listener (`127.0.0.1:9464`); unset
    /// disables it. One per process.
    pub metrics_listen: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".into(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            metrics_listen: None,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The wire format a provider instance speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Deterministic local answers, for the quickstart, tests and benchmarks.
    Mock,
    /// Any server speaking OpenAI's chat completions API; `preset` fills in the
    /// base URL and known quirks of vLLM, llama.cpp, Ollama, Groq, Together,
    /// Mistral, DeepSeek, Fireworks, xAI and OpenRouter.
    OpenaiCompatible,
    /// OpenAI's own API (`https://api.openai.com/v1` unless `base_url` says
    /// otherwise).
    Openai,
    /// Azure OpenAI: deployment URLs, `api-version`, the `api-key` header.
    AzureOpenai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google Gemini: Google AI `generateContent` / `streamGenerateContent`, or
    /// Vertex AI when `project` is set.
    Gemini,
    /// AWS Bedrock Converse / ConverseStream, SigV4-signed.
    Bedrock,
    /// Cohere's v2 chat and embed API.
    Cohere,
}

impl ProviderKind {
    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mock => "mock",
            Self::OpenaiCompatible => "openai-compatible",
            Self::Openai => "openai",
            Self::AzureOpenai => "azure-openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Bedrock => "bedrock",
            Self::Cohere => "cohere",
        }
    }
}

/// `[[providers]]`: one provider instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Unique name that deployments refer to.
    pub name: String,
    /// Wire format.
    pub kind: ProviderKind,
    /// Base URL including the version path (`https://api.openai.com/v1`).
    pub base_url: Option<String>,
    /// Environment variable with the API key; unset sends no credential.
    pub api_key_env: Option<String>,
    /// Who bills this provider's traffic (`openai`, `anthropic`, `self-hosted`,
    /// ...), the key into the price table. Unset infers it from the kind, preset
    /// or `base_url`.
    pub vendor: Option<String>,
    /// openai-compatible: a known server or service (`vllm`, `llama-cpp`,
    /// `ollama`, `groq`, `together`, `mistral`, `deepseek`, `fireworks`, `xai`,
    /// `openrouter`) whose base URL and quirks apply.
    pub preset: Option<String>,
    /// azure-openai: the `api-version` query parameter; anthropic: the
    /// `anthropic-version` header. Unset: the version Switchyard is tested with.
    pub api_version: Option<String>,
    /// bedrock: the AWS region (required); gemini on Vertex AI: the location.
    pub region: Option<String>,
    /// gemini: the Google Cloud project; set, requests go to Vertex AI.
    pub project: Option<String>,
    /// gemini on Vertex AI: environment variable with an OAuth access token.
    pub access_token_env: Option<String>,
    /// bedrock: environment variables with the AWS credentials (defaults:
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
    pub aws_access_key_id_env: Option<String>,
    /// See `aws_access_key_id_env`.
    pub aws_secret_access_key_env: Option<String>,
    /// See `aws_access_key_id_env`; the session token is optional.
    pub aws_session_token_env: Option<String>,
    /// mock: fixed delay before answering.
    #[serde(default)]
    pub latency_ms: u64,
    /// mock: streaming pace; 0 streams as fast as possible.
    #[serde(default)]
    pub tokens_per_second: u32,
    /// mock: completion length in tokens.
    #[serde(default = "default_mock_completion_tokens")]
    pub completion_tokens: u32,
    /// mock: fraction of requests (0.0 to 1.0) that fail with an upstream error.
    #[serde(default)]
    pub failure_rate: f64,
}

fn default_mock_completion_tokens() -> u32 {
    16
}

/// The known OpenAI-compatible servers and services: preset name and default base
/// URL (including the version path). The adapter applies each one's quirks.
pub const PRESETS: &[(&str, &str)] = &[
    ("vllm", "http://localhost:8000/v1"),
    ("llama-cpp", "http://localhost:8080/v1"),
    ("ollama", "http://localhost:11434/v1"),
    ("groq", "https://api.groq.com/openai/v1"),
    ("together", "https://api.together.xyz/v1"),
    ("mistral", "https://api.mistral.ai/v1"),
    ("deepseek", "https://api.deepseek.com/v1"),
    ("fireworks", "https://api.fireworks.ai/inference/v1"),
    ("xai", "https://api.x.ai/v1"),
    ("openrouter", "https://openrouter.ai/api/v1"),
];

impl ProviderConfig {
    /// `base_url`, or the default of the kind or preset (OpenAI's, Anthropic's,
    /// Google AI's, Cohere's, a preset's); `None` where there is none (Azure,
    /// Bedrock and Vertex AI URLs are built from their own settings).
    pub fn effective_base_url(&self) -> Option<String> {
        if let Some(url) = &self.base_url {
            return Some(url.clone());
        }
        let default = match self.kind {
            ProviderKind::Openai => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com/v1",
            ProviderKind::Gemini if self.project.is_none() => {
                "https://generativelanguage.googleapis.com/v1beta"
            }
            ProviderKind::Cohere => "https://api.cohere.com/v2",
            ProviderKind::OpenaiCompatible => {
                let preset = self.preset.as_deref()?;
                PRESETS.iter().find(|(name, _)| *name == preset)?.1
            }
            _ => return None,
        };
        Some(default.to_string())
    }
}

/// When a usage record reaches the disk, relative to the answer it bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutboxSync {
    /// Written to the outbox's journal (in the kernel: survives any crash of
    /// the router process) before the answer, flushed to disk within a few
    /// milliseconds after it: no fsync on the request path.
    #[default]
    Journal,
    /// Flushed to disk before every answer (group commit): also survives a power
    /// loss, at the cost of an fsync in each request's latency.
    PerRequest,
}

/// How a model alias picks among its deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Random, proportional to `weight`.
    #[default]
    Weighted,
    /// The first deployment.
    Ordered,
    /// Power of two choices on each deployment's recent latency (an exponentially
    /// weighted moving average); untried deployments count as fastest.
    LeastLatency,
    /// The deployment with the fewest requests in flight from this router.
    LeastBusy,
    /// The deployment whose price makes a typical request (1,000 prompt and 250
    /// completion tokens) cheapest.
    LowestCost,
}

/// `[[models]]`: a model name clients ask for. A name ending in `*` (`openai/*`)
/// is a wildcard: it serves every name with that prefix no other entry names.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The name clients send as `model`.
    pub name: String,
    /// How to pick a deployment.
    #[serde(default)]
    pub strategy: Strategy,
    /// Where the model is served.
    pub deployments: Vec<DeploymentConfig>,
    /// Shown as `owned_by` in model listings.
    #[serde(default = "default_owned_by")]
    pub owned_by: String,
    /// What the model is called for; unset serves chat and embeddings alike.
    /// Set, the other kind of call is refused before anything is sent upstream.
    #[serde(default)]
    pub mode: Option<ModelMode>,
    /// Models tried, in order, when every deployment of this one failed in a way a
    /// retry may help (unavailable, rate limited, timed out).
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// The model tried when the prompt exceeds this one's context window.
    #[serde(default)]
    pub context_fallback: Option<String>,
    /// The model tried when this one's provider refuses the content (only where
    /// an operator chose one).
    #[serde(default)]
    pub content_filter_fallback: Option<String>,
    /// How long requests for this model may wait; a request's own timeouts
    /// replace these field by field.
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Sticky assignment for A/B splits under `weighted`: the same caller always
    /// gets the same first deployment (still in proportion to the weights across
    /// callers), by its `key` or its request's `user`.
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// Hedging: when an attempt has produced no first token (a whole answer, for
    /// unary calls) after this many milliseconds, a second attempt starts on the
    /// next deployment in line; the first to answer wins and the other is
    /// cancelled. At most one hedge per request; it counts toward
    /// `router.max_attempts`, needs the retry budget, and the loser's prompt is
    /// billed. Unset: no hedging.
    #[serde(default)]
    pub hedge_after_ms: Option<u64>,
    /// Response caching: an answer is kept this many seconds by the router that
    /// served it, and an identical request from the same tenant within that time
    /// is answered from it at no cost (`cache_hit` in its usage record). Unset:
    /// nothing is cached. See `router.cache_max_bytes`.
    #[serde(default)]
    pub cache_ttl_secs: Option<u64>,
}

/// The kind of call a model serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelMode {
    /// Chat completions (and token counts of chat input).
    Chat,
    /// Embeddings.
    Embeddings,
}

impl ModelMode {
    /// The word used in config and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Embeddings => "embeddings",
        }
    }
}

/// Who a sticky assignment follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sticky {
    /// The virtual key.
    Key,
    /// The request's `user` field (the key when a request names no user).
    User,
}

/// `[[models]] timeouts`: milliseconds; unset waits as long as the provider takes
/// (bounded by `[provider_adapter] read_timeout_ms` between reads).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Until the first token (a whole answer, for unary calls), per attempt.
    pub first_token_ms: Option<u64>,
    /// The longest gap between two streamed chunks.
    pub stall_ms: Option<u64>,
    /// The whole request, every attempt included.
    pub total_ms: Option<u64>,
}

fn default_owned_by() -> String {
    "switchyard".into()
}

/// One place a model is served: a provider instance and its model name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// A `[[providers]]` name.
    pub provider: String,
    /// The provider's model name. Under a wildcard model name (`openai/*`) a `*`
    /// here is replaced by what the name's `*` matched (`model = "*"` passes the
    /// rest of the requested name through).
    pub model: String,
    /// Relative share under the weighted strategy.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Prices for this deployment. Unset: the shipped price table (plus `[[prices]]`)
    /// for the provider's vendor; self-hosted deployments are free.
    #[serde(default)]
    pub price: Option<PriceConfig>,
    /// Request tags (`x-switchyard-tags`, or the request's `metadata`) this
    /// deployment is for: a request carrying all of them is routed to the matching
    /// deployments first; requests without them never use it.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// The most tokens (prompt plus `max_tokens`) this deployment takes, when the
    /// operator knows it: a request that cannot fit skips the deployment without
    /// calling it, as if the provider had refused the prompt as too long (so the
    /// model's `context_fallback` applies).
    #[serde(default)]
    pub context_window: Option<u64>,
}

fn default_weight() -> u32 {
    1
}

/// Dollars per million tokens, exact to the micro-dollar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriceConfig {
    /// Uncached prompt tokens.
    pub input_per_million: MicrosPerMillion,
    /// Completion tokens (reasoning included).
    pub output_per_million: MicrosPerMillion,
    /// Prompt tokens served from the provider's cache; unset bills them as input.
    pub cached_input_per_million: Option<MicrosPerMillion>,
    /// Prompt tokens written to the provider's cache (Anthropic); unset bills them
    /// as input.
    pub cache_write_per_million: Option<MicrosPerMillion>,
}

/// `[[prices]]`: one price-table entry from config. It replaces the shipped entry
/// with the same `vendor` and `model` (negotiated rates) or adds a new one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    /// Who bills (`openai`, `anthropic`, ...), as in `[[providers]] vendor`.
    pub vendor: String,
    /// The provider's model id, exactly as sent on the wire.
    pub model: String,
    /// Uncached prompt tokens.
    pub input_per_million: MicrosPerMillion,
    /// Completion tokens (reasoning included).
    pub output_per_million: MicrosPerMillion,
    /// Prompt tokens served from the provider's cache; unset bills them as input.
    pub cached_input_per_million: Option<MicrosPerMillion>,
    /// Prompt tokens written to the provider's cache; unset bills them as input.
    pub cache_write_per_million: Option<MicrosPerMillion>,
}
