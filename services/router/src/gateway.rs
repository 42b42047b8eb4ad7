//! The public `Gateway` gRPC service: admission, routing, calling the adapter,
//! pricing, and one usage record per routed request (token counts, which bill
//! nothing, in [`count`]).

mod count;
mod key_info;
mod open;
mod served;
mod unary;

use open::open_stream;
pub(crate) use served::Served;
pub use served::{ATTEMPTS_HEADER, COST_HEADER, PROVIDER_HEADER, UPSTREAM_MODEL_HEADER};
pub(crate) use unary::hit_record;
use unary::{unary, with_headers};

use std::borrow::Cow;
use std::sync::Arc;

use arc_swap::ArcSwap;
use std::time::{Duration, Instant};
use switchyard_config::{Config, ModelMode};
use tokio_util::sync::CancellationToken;

use switchyard_error::{ApiError, ErrorCode};
use switchyard_grpc::{
    GrpcChannel, MAX_MESSAGE_BYTES, ProviderHandle, bearer_token, outgoing, request_id,
};
use switchyard_proto::auth::v1::{Limits, Principal};
use switchyard_proto::gateway::v1::gateway_server::{Gateway, GatewayServer};
use switchyard_proto::gateway::v1::{
    GetKeyInfoRequest, KeyInfo, ListModelsRequest, ListModelsResponse, Model,
};
use switchyard_proto::metering::v1::usage_query_client::UsageQueryClient;
use switchyard_proto::provider::v1::{ProviderChatRequest, ProviderEmbedRequest};
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, Timeouts, TokenCount, Usage,
};
use switchyard_tokens::DeferredPrompt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::RouterError;
use crate::admission::{Admission, Estimate};
use crate::attempts::{RetryPolicy, Tried, with_fallbacks};
use crate::cache::{Cached, Keyed, Kind, Lookup, ResponseCache};
use crate::detach::{Detach, Driven};
use crate::health::Health;
use crate::models::{Deployment, ModelEntry, ModelTable, RouteInput, RouteKey};
use crate::principals::PrincipalCache;
use crate::record::Draft;
use crate::stream::Relay;
use crate::trailers::ServedTrailers;

/// The retry hint of a request shed by `router.max_in_flight`: long enough for
/// some of the requests in flight to finish, short enough that a client retrying
/// on it (the OpenAI and Anthropic SDKs honour `Retry-After`) is not held long.
const OVERLOAD_RETRY_AFTER: Duration = Duration::from_secs(1);
use crate::usage::UsageSink;
use crate::validate::{validate_chat, validate_embed};

/// Clients of the services the router calls: in-process or over the network.
#[derive(Clone)]
pub struct Clients {
    /// Auth (admission).
    pub auth: GrpcChannel,
    /// Provider adapter: over a channel, or the adapter itself in the all-in-one
    /// process.
    pub provider: ProviderHandle,
    /// Metering (usage delivery).
    pub metering: GrpcChannel,
    /// The quota shards (rate limits and budgets), each with its configured name;
    /// the names decide which shard owns which key or tenant.
    pub quota: Vec<(String, GrpcChannel)>,
}

/// The router's state behind the Gateway API. Cheap to clone.
#[derive(Clone)]
pub struct Router {
    inner: Arc<Inner>,
}

struct Inner {
    /// Admission: cached principals, kept fresh by auth's change stream.
    auth: Arc<PrincipalCache>,
    provider: ProviderHandle,
    /// The routing table, replaced whole by a config reload; each request
    /// keeps the table it started with.
    models: ArcSwap<ModelTable>,
    usage: UsageSink,
    drain_timeout: Duration,
    admission: Admission,
    estimate_max_tokens: u64,
    retry: RetryPolicy,
    health: Health,
    /// Slots for `router.max_in_flight` (none: no limit).
    in_flight: Option<Arc<Semaphore>>,
    /// Answers of models with `cache_ttl_secs`.
    cache: ResponseCache,
    /// Metering's usage queries (a key's spend, for `GetKeyInfo`).
    ledger: UsageQueryClient<GrpcChannel>,
}

/// How long one request may wait (its timeouts): its own, else its model's.
#[derive(Debug, Clone, Copy, Default)]
struct Waits {
    first_token: Option<Duration>,
    stall: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
}

impl Waits {
    fn new(model: Option<&ModelEntry>, request: Option<&Timeouts>) -> Self {
        let configured = model.map(|m| m.timeouts).unwrap_or_default();
        let pick = |asked: Option<u32>, configured: Option<u64>| {
            asked
                .map(u64::from)
                .or(configured)
                .map(Duration::from_millis)
        };
        let request = request.copied().unwrap_or_default();
        Self {
            first_token: pick(request.first_token_ms, configured.first_token_ms),
            stall: pick(request.stall_ms, configured.stall_ms),
            deadline: pick(request.total_ms, configured.total_ms)
                .map(|total| tokio::time::Instant::now() + total),
        }
    }

    /// One attempt, bounded by the first-token timeout and what is left of the
    /// request's time; running out is a retryable DEADLINE_EXCEEDED.
    async fn bound<T>(self, attempt: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        let left = self
            .deadline
            .map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let limit = match (self.first_token, left) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(limit) = limit else {
            return attempt.await;
        };
        let timeout = || {
            ApiError::new(
                ErrorCode::UpstreamTimeout,
                format!(
                    "no answer from the provider within {} ms",
                    limit.as_millis()
                ),
            )
            .to_status()
        };
        if limit.is_zero() {
            return Err(timeout());
        }
        tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| Err(timeout()))
    }
}

/// What a request is, for estimating its tokens and cost before it runs.
enum Sizing<'a> {
    Chat(&'a ChatRequest),
    Embed(&'a EmbedRequest),
}

impl Sizing<'_> {
    /// The kind of call, as a model's `mode` names it.
    fn mode(&self) -> ModelMode {
        match self {
            Sizing::Chat(_) => ModelMode::Chat,
            Sizing::Embed(_) => ModelMode::Embeddings,
        }
    }

    /// The request's metadata (routing tags).
    fn metadata(&self) -> &std::collections::HashMap<String, String> {
        match self {
            Self::Chat(r) => &r.metadata,
            Self::Embed(r) => &r.metadata,
        }
    }

    /// The model asked for.
    fn model(&self) -> &str {
        match self {
            Self::Chat(r) => &r.model,
            Self::Embed(r) => &r.model,
        }
    }

    /// The request's `user`, or "".
    fn user(&self) -> &str {
        match self {
            Self::Chat(r) => r.user.as_deref().unwrap_or(""),
            Self::Embed(r) => r.user.as_deref().unwrap_or(""),
        }
    }
}

impl Router {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        auth: Arc<PrincipalCache>,
        provider: ProviderHandle,
        models: ModelTable,
        usage: UsageSink,
        drain_timeout: Duration,
        admission: Admission,
        estimate_max_tokens: u64,
        retry: RetryPolicy,
        health: Health,
        max_in_flight: u32,
        cache: ResponseCache,
        ledger: UsageQueryClient<GrpcChannel>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                auth,
                provider,
                models: ArcSwap::from_pointee(models),
                usage,
                drain_timeout,
                admission,
                estimate_max_tokens,
                retry,
                health,
                in_flight: (max_in_flight > 0)
                    .then(|| Arc::new(Semaphore::new(max_in_flight as usize))),
                cache,
                ledger,
            }),
        }
    }

    /// A place for one more request under `router.max_in_flight`, or the fast
    /// refusal of a router already serving that many: shedding here, before auth
    /// or any provider is asked, is what keeps an overload from queueing without
    /// bound (memory) and from slowing the requests already admitted.
    fn slot(&self) -> Result<Option<OwnedSemaphorePermit>, Status> {
        let Some(limit) = &self.inner.in_flight else {
            return Ok(None);
        };
        match limit.clone().try_acquire_owned() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                switchyard_telemetry::metrics::counter!(
                    switchyard_telemetry::names::REFUSED, "reason" => "overloaded"
                )
                .increment(1);
                Err(ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the gateway is serving as many requests as it is configured to \
                     (router.max_in_flight); try again shortly",
                )
                .with_retry_after(OVERLOAD_RETRY_AFTER)
                .to_status())
            }
        }
    }

    /// The model table and deployment health, for the admin view.
    pub(crate) fn routing_state(&self) -> (Arc<ModelTable>, &Health) {
        (self.inner.models.load_full(), &self.inner.health)
    }

    /// Whether `config`'s models would route (every deployment priced): what a
    /// reload checks before anything is applied.
    pub fn check(config: &Config) -> Result<(), RouterError> {
        crate::pricing::resolve(config).map(drop)
    }

    /// Routes new requests by `config`'s models and prices (a reload). Requests
    /// already running finish on the table they started with; deployment health
    /// carries over by provider and upstream model; the response cache is
    /// emptied. On error nothing changes.
    pub fn apply(&self, config: &Config) -> Result<(), RouterError> {
        let prices = crate::pricing::resolve(config)?;
        self.inner
            .models
            .store(Arc::new(ModelTable::from_config(config, &prices)));
        // Kept answers came from the old models, deployments and prices.
        self.inner.cache.clear();
        Ok(())
    }

    /// Applies every config published on `updates` until `shutdown` (see
    /// [`Router::apply`]); one that does not apply is logged, the running table
    /// kept.
    pub fn follow(
        &self,
        updates: switchyard_bootstrap::ConfigUpdates,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let router = self.clone();
        switchyard_bootstrap::follow(updates, shutdown, "routing", move |c| router.apply(c))
    }

    /// The generated Gateway server over this router, its served-by metadata
    /// repeated in trailers (see `trailers.rs`).
    pub fn gateway_server(&self) -> ServedTrailers<GatewayServer<Self>> {
        ServedTrailers::new(
            GatewayServer::new(self.clone())
                .max_decoding_message_size(MAX_MESSAGE_BYTES)
                .max_encoding_message_size(MAX_MESSAGE_BYTES),
        )
    }

    async fn admit(
        &self,
        metadata: &MetadataMap,
        request_id: &str,
        model: &str,
    ) -> Result<Principal, Status> {
        let key = bearer_token(metadata)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "missing API key: send `authorization: Bearer <key>`",
                )
            })?;
        self.inner.auth.authenticate(key, model, request_id).await
    }

    /// The deployments to try for `model`, in order (see `ModelEntry::plan`).
    fn route<'t>(
        &self,
        table: &'t ModelTable,
        model: &str,
        input: RouteInput<'_>,
    ) -> Result<(Cow<'t, ModelEntry>, Vec<Deployment>), ApiError> {
        table
            .get(model)
            .map(|m| {
                let plan = m
                    .plan(&self.inner.health, input)
                    .into_iter()
                    .cloned()
                    .collect();
                (m, plan)
            })
            .ok_or_else(|| {
                let message = match table.unpriced_wildcard(model) {
                    Some(pattern) => format!(
                        "The model `{model}` matches `{pattern}`, but no price is known for it; \
                         the operator can add a [[prices]] entry."
                    ),
                    None => format!(
                        "The model `{model}` does not exist or you do not have access to it."
                    ),
                };
                ApiError::new(ErrorCode::ModelNotFound, message).with_param("model")
            })
    }

    /// Tries the draft's deployments, then its model's fallbacks, with `call`
    /// (given the adapter client and the deployment of each attempt), in a future
    /// that owns what it needs, so it can outlive the handler.
    fn attempts<T, F, Fut>(
        &self,
        table: Arc<ModelTable>,
        draft: &mut Draft,
        limits: Waits,
        mut call: F,
    ) -> impl Future<Output = Tried<T>> + Send + 'static
    where
        F: FnMut(ProviderHandle, Deployment) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Status>> + Send,
        T: Send,
    {
        let router = self.clone();
        let (model, first, rest, route) = (
            draft.requested_model.clone(),
            draft.deployment.clone(),
            // Needed only by the attempts from here on: moved, not copied.
            std::mem::take(&mut draft.plan),
            std::mem::take(&mut draft.route),
        );
        async move {
            let inner = &router.inner;
            with_fallbacks(
                &table,
                &model,
                first,
                rest,
                &inner.retry,
                &inner.health,
                route.input(),
                // Boxed: an attempt is a few KB, and `with_fallbacks` holds two at
                // once when it hedges. Unboxed, the whole call future was 26.5 KB,
                // moved 3-4 times per request on its way into `Detach`.
                |d| Box::pin(limits.bound(call(inner.provider.clone(), d))),
            )
            .await
        }
    }

    /// The tokens a request needs of a context window (prompt counted, plus
    /// `max_tokens` × `n`): counted only when some deployment declares a
    /// `context_window`.
    fn context_need(&self, table: &ModelTable, sizing: &Sizing<'_>) -> Option<u64> {
        if !table.has_context_windows() {
            return None;
        }
        Some(match sizing {
            // Each text prompt is completed on its own: the longest one counts.
            Sizing::Chat(req) => {
                let n = u64::from(req.n.unwrap_or(1).max(1));
                switchyard_tokens::context_prompt(req)
                    .saturating_add(u64::from(req.max_tokens.unwrap_or(0)).saturating_mul(n))
            }
            Sizing::Embed(req) => switchyard_tokens::embed_input(req),
        })
    }

    /// What the request may use at most, when some limit of the caller counts
    /// tokens or money (prompt tokens counted, plus `max_tokens` or the configured
    /// default); zero otherwise, so unlimited callers pay no tokenizer time.
    fn estimate(
        &self,
        principal: &Principal,
        deployment: &Deployment,
        sizing: &Sizing<'_>,
    ) -> Estimate {
        let counts_tpm =
            |l: &Option<Limits>| l.as_ref().is_some_and(|l| l.tokens_per_minute.is_some());
        let needed = counts_tpm(&principal.key_limits)
            || counts_tpm(&principal.tenant_limits)
            || principal.key_budget.is_some()
            || principal.tenant_budget.is_some();
        if !needed {
            return Estimate::default();
        }
        let usage = match sizing {
            Sizing::Chat(req) => {
                let completion = req
                    .max_tokens
                    .map_or(self.inner.estimate_max_tokens, u64::from);
                // Every choice may produce up to `max_tokens`.
                let choices = switchyard_tokens::choices(req);
                Usage {
                    prompt_tokens: switchyard_tokens::chat_prompt(req),
                    completion_tokens: completion.saturating_mul(choices),
                    ..Usage::default()
                }
            }
            Sizing::Embed(req) => Usage {
                prompt_tokens: switchyard_tokens::embed_input(req),
                ..Usage::default()
            },
        };
        Estimate {
            tokens: usage.prompt_tokens.saturating_add(usage.completion_tokens),
            micros: switchyard_pricing::cost_micros(&deployment.price, &usage),
        }
    }

    /// Takes a place under `router.max_in_flight` (held by the draft), admits the
    /// caller, picks the deployment and takes the request's share of the
    /// caller's rate limits and budgets; the returned draft is what the
    /// request's usage record will be built from, whatever happens next.
    ///
    /// The routing table is loaded once here and returned, so the whole request
    /// (its attempts, fallbacks and timeouts) follows one config even if a reload
    /// lands meanwhile.
    async fn admit_and_route(
        &self,
        metadata: &MetadataMap,
        request_id: &str,
        started: Instant,
        sizing: Sizing<'_>,
        timeouts: Option<&Timeouts>,
    ) -> Result<(Arc<ModelTable>, Draft, Waits), Status> {
        // First: a shed request costs no auth call and no routing.
        let slot = self.slot()?;
        let table = self.inner.models.load_full();
        let table = &table;
        let model = sizing.model();
        let principal = self.admit(metadata, request_id, model).await?;
        if self.inner.usage.is_full() {
            // Serving now would produce usage we could not store: refuse instead.
            switchyard_telemetry::metrics::counter!(
                switchyard_telemetry::names::REFUSED, "reason" => "usage_backlog_full"
            )
            .increment(1);
            switchyard_telemetry::metrics::gauge!(switchyard_telemetry::names::OUTBOX_FULL)
                .set(1.0);
            return Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "usage ledger backlog is full; try again shortly",
            )
            .to_status());
        }
        let route = RouteKey {
            tags: sizing.metadata().clone(),
            key: principal.key_id.clone(),
            user: sizing.user().to_string(),
            need: self.context_need(table, &sizing),
        };
        let (entry, plan) = self.route(table, model, route.input())?;
        entry.serves(sizing.mode())?;
        let mut plan = plan.into_iter();
        let Some(first) = plan.next() else {
            return Err(no_deployment_for_tags(model));
        };
        let deployment = &first;
        let estimate = self.estimate(&principal, deployment, &sizing);
        let ticket = self
            .inner
            .admission
            .admit(&principal, estimate, request_id)
            .await?;
        let mut draft = Draft::new(
            request_id,
            &principal,
            model,
            deployment,
            &table.price_version,
            started,
        );
        draft.ticket = Some(ticket);
        draft.slot = slot;
        draft.plan = plan.collect();
        draft.route = route;
        draft.metadata = sizing.metadata().clone();
        // The operator's labels (key over tenant) win over the caller's tags: a
        // caller cannot move its spend to another team.
        draft
            .metadata
            .extend(principal.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        draft.cache_ttl = entry.cache_ttl;
        let waits = Waits::new(Some(&entry), timeouts);
        Ok((table.clone(), draft, waits))
    }

    /// A chat call (`kind`: unary or streamed) admitted, routed and looked up
    /// in the response cache: its table, draft and waits, and the kept answer
    /// on a hit.
    async fn admit_chat(
        &self,
        metadata: &MetadataMap,
        request_id: &str,
        started: Instant,
        req: &mut ChatRequest,
        kind: Kind,
    ) -> Result<(Arc<ModelTable>, Draft, Waits, Option<Arc<Cached>>), Status> {
        let (table, mut draft, limits) = self
            .admit_and_route(
                metadata,
                request_id,
                started,
                Sizing::Chat(req),
                req.timeouts.as_ref(),
            )
            .await?;
        draft.stream = kind == Kind::ChatStream;
        let (draft, found) = self
            .cached(draft, metadata, Keyed::Chat(req, kind), limits.deadline)
            .await?;
        Ok((table, draft, limits, found))
    }

    /// Looks `request` up in the response cache when its model caches, leaving
    /// its place there in the draft (where a miss's answer will be kept); the
    /// kept answer, on a hit. An identical unary call being answered now is
    /// waited for, until `deadline` at most (see [`crate::cache`]); a caller
    /// that leaves meanwhile is recorded as cancelled, at no cost.
    async fn cached(
        &self,
        mut draft: Draft,
        metadata: &MetadataMap,
        request: Keyed<'_>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(Draft, Option<Arc<Cached>>), Status> {
        let lookup = self
            .inner
            .cache
            .lookup(draft.cache_ttl, &draft.tenant, metadata, request);
        match lookup {
            None => Ok((draft, None)),
            Some(Lookup::Done(slot, found)) => {
                draft.cache = Some(slot);
                Ok((draft, found))
            }
            Some(Lookup::Wait(wait)) => {
                let gone = CancellationToken::new();
                let work = unary::wait_for_flight(
                    draft,
                    wait,
                    deadline,
                    self.inner.usage.clone(),
                    gone.clone(),
                );
                Detach::new(work, Some(gone))
                    .await
                    // `None` only once the caller left, when nobody awaits this.
                    .ok_or_else(|| ApiError::internal().to_status())
            }
        }
    }
}

/// The adapter's request to send `req` to deployment `d`.
fn to_deployment(d: Deployment, req: &ChatRequest) -> ProviderChatRequest {
    ProviderChatRequest {
        provider: d.provider,
        upstream_model: d.upstream_model,
        request: Some(req.clone()),
    }
}

/// The refusal when every deployment of `model` is tagged for other requests.
fn no_deployment_for_tags(model: &str) -> Status {
    ApiError::invalid(
        "metadata",
        format!("no deployment of `{model}` serves requests with these tags"),
    )
    .to_status()
}

type ChunkStream = Driven<Result<ChatChunk, Status>>;

#[tonic::async_trait]
impl Gateway for Router {
    async fn chat(&self, request: Request<ChatRequest>) -> Result<Response<ChatResponse>, Status> {
        let started = Instant::now();
        let id = request_id(&request);
        let (metadata, _, mut req) = request.into_parts();
        validate_chat(&req)?;
        let (table, mut draft, limits, found) = self
            .admit_chat(&metadata, &id, started, &mut req, Kind::Chat)
            .await?;
        if let Some(hit) = found {
            return unary::hit(draft, &hit, self.inner.usage.clone()).await;
        }
        // The request is handed to the provider call, but its prompt count is needed
        // only if no usage comes back (a disconnect past the drain timeout, a broken
        // stream): keep what the count reads instead of counting now. Copying that
        // text costs ~0.3 µs for a 1,000-token prompt; tokenizing it, 100-150 µs.
        let prompt = DeferredPrompt::chat(&req);
        let call = self.attempts(
            table,
            &mut draft,
            limits,
            move |mut provider, d: Deployment| {
                let call = to_deployment(d, &req);
                let id = id.clone();
                async move { provider.chat(outgoing(call, &id)).await }
            },
        );
        let drain = self.inner.drain_timeout;
        unary(draft, call, self.inner.usage.clone(), drain, prompt).await
    }

    type ChatStreamStream = ChunkStream;

    async fn chat_stream(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<Self::ChatStreamStream>, Status> {
        let started = Instant::now();
        let id = request_id(&request);
        let (metadata, _, mut req) = request.into_parts();
        validate_chat(&req)?;
        let (table, mut draft, limits, found) = self
            .admit_chat(&metadata, &id, started, &mut req, Kind::ChatStream)
            .await?;
        if let Some(hit) = found {
            return Ok(crate::stream::replay(draft, &hit, self.inner.usage.clone()));
        }
        let cache = draft.cache.as_ref().map(|slot| slot.status);
        // Kept, not counted: see `chat`.
        let prompt = DeferredPrompt::chat(&req);
        // Each attempt opens the stream and waits for its first chunk, so a failure
        // before any token moves on to the next deployment and never reaches the
        // client as a broken stream.
        let open = self.attempts(
            table,
            &mut draft,
            limits,
            move |mut provider, d: Deployment| {
                let call = to_deployment(d, &req);
                let id = id.clone();
                async move {
                    let mut upstream = provider
                        .chat_stream(outgoing(call, &id))
                        .await?
                        .into_inner();
                    match upstream.message().await? {
                        Some(first) => Ok((upstream, first)),
                        None => Err(ApiError::new(
                            ErrorCode::UpstreamUnavailable,
                            "provider returned an empty stream",
                        )
                        .to_status()),
                    }
                }
            },
        );
        let relay = Relay {
            draft,
            usage: self.inner.usage.clone(),
            drain_timeout: self.inner.drain_timeout,
            prompt,
            stall: limits.stall,
            deadline: limits.deadline,
        };
        let (relay, first, upstream) = open_stream(relay, open).await?;
        let served = Served {
            provider: relay.draft.deployment.provider.clone(),
            upstream_model: relay.draft.deployment.upstream_model.clone(),
            attempts: relay.draft.attempts.len() + 1,
            // Known only when the stream ends: in its usage record.
            cost: None,
            cache,
        };
        let (tx, rx) = mpsc::channel(32);
        // The relay runs in the response stream's polls (see `Driven`).
        let relay = relay.run(first, upstream, tx).in_current_span();
        Ok(with_headers(Driven::new(relay, rx), &served))
    }

    async fn embed(
        &self,
        request: Request<EmbedRequest>,
    ) -> Result<Response<EmbedResponse>, Status> {
        let started = Instant::now();
        let id = request_id(&request);
        let (metadata, _, mut req) = request.into_parts();
        validate_embed(&req)?;
        let (table, mut draft, limits) = self
            .admit_and_route(&metadata, &id, started, Sizing::Embed(&req), None)
            .await?;
        draft.operation = "embeddings";
        let (mut draft, found) = self
            .cached(draft, &metadata, Keyed::Embed(&mut req), limits.deadline)
            .await?;
        if let Some(hit) = found {
            return unary::hit(draft, &hit, self.inner.usage.clone()).await;
        }
        // Kept, not counted: see `chat`.
        let prompt = DeferredPrompt::embed(&req);
        let call = self.attempts(
            table,
            &mut draft,
            limits,
            move |mut provider, d: Deployment| {
                let call = ProviderEmbedRequest {
                    provider: d.provider,
                    upstream_model: d.upstream_model,
                    request: Some(req.clone()),
                };
                let id = id.clone();
                async move { provider.embed(outgoing(call, &id)).await }
            },
        );
        let drain = self.inner.drain_timeout;
        unary(draft, call, self.inner.usage.clone(), drain, prompt).await
    }

    async fn list_models(
        &self,
        request: Request<ListModelsRequest>,
    ) -> Result<Response<ListModelsResponse>, Status> {
        let id = request_id(&request);
        let principal = self.admit(request.metadata(), &id, "").await?;
        let table = self.inner.models.load();
        let models = table
            .iter()
            // A wildcard stands for names it cannot list.
            .filter(|m| !m.name.ends_with('*'))
            .filter(|m| {
                switchyard_policy::model_allowed(&principal.allowed_models, &m.name)
                    && switchyard_policy::model_allowed(&principal.tenant_allowed_models, &m.name)
            })
            .map(|m| Model {
                id: m.name.clone(),
                created: table.created,
                owned_by: m.owned_by.clone(),
            })
            .collect();
        Ok(Response::new(ListModelsResponse { models }))
    }

    async fn count_tokens(
        &self,
        request: Request<ChatRequest>,
    ) -> Result<Response<TokenCount>, Status> {
        self.count(request).await
    }

    async fn get_key_info(
        &self,
        request: Request<GetKeyInfoRequest>,
    ) -> Result<Response<KeyInfo>, Status> {
        self.key_info(request).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::{Instant, sleep};

    use super::*;

    /// An attempt answering after `after`.
    async fn answer(after: Duration) -> Result<(), Status> {
        sleep(after).await;
        Ok(())
    }

    fn timed_out(result: Result<(), Status>) -> bool {
        matches!(result, Err(s) if ApiError::from_status(&s).code == ErrorCode::UpstreamTimeout)
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_is_bounded_by_its_first_token_limit_and_what_is_left_of_the_total() {
        let secs = Duration::from_secs;
        let waits = Waits {
            first_token: Some(secs(2)),
            stall: None,
            deadline: Some(Instant::now() + secs(5)),
        };
        assert!(waits.bound(answer(secs(1))).await.is_ok());
        let started = Instant::now();
        assert!(timed_out(waits.bound(answer(secs(3))).await));
        assert_eq!(started.elapsed(), secs(2));
        // 3 s have passed: 2 s of the total are left, and the first-token limit
        // no longer binds.
        assert!(timed_out(waits.bound(answer(secs(60))).await));
        assert_eq!(started.elapsed(), secs(4));
        // Past the deadline, an attempt is not even started.
        sleep(secs(1)).await;
        let started = Instant::now();
        assert!(timed_out(waits.bound(answer(Duration::ZERO)).await));
        assert_eq!(started.elapsed(), Duration::ZERO);
        // No limits: as long as it takes.
        assert!(Waits::default().bound(answer(secs(3600))).await.is_ok());
    }
}
