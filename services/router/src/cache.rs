//! The response cache: exact-match answers, per tenant and model, kept in this
//! router replica's memory for the model's `cache_ttl_secs`.
//!
//! A request is looked up after admission (the key is checked, the model allowed,
//! the rate limits counted) and before any provider is called. A hit is answered
//! from memory and recorded with `cache_hit`, zero tokens and zero cost; a miss
//! runs as usual and its answer is kept when it completed (`OK`, not cancelled).
//!
//! - **Key.** SHA-256 of the call's kind (unary chat, streamed chat, embeddings),
//!   the tenant, and the request as the router received it — everything that can
//!   change the answer or its route: model, messages, sampling, tools, `user`,
//!   `metadata` (tags route) — but its timeouts. Protobuf's encoding of the
//!   request is the canonical form; its one map (`metadata`) is hashed sorted.
//!   A streamed and a unary request are cached apart: each is replayed exactly as
//!   it was answered.
//! - **Bound.** `router.cache_max_bytes` (encoded size plus a fixed overhead per
//!   entry), split over [`SHARDS`] locks so concurrent requests seldom meet; an
//!   answer larger than a shard's share is not kept. When full, the oldest
//!   entries go first; expired ones are dropped when met.
//! - **Caller's say.** `cache-control: no-cache` skips the lookup (the fresh
//!   answer replaces the kept one), `no-store` skips both lookup and keeping.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use prost::Message;
use sha2::{Digest, Sha256};
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse,
};
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

/// Answer metadata (and HTTP header) saying how the cache served a request, for
/// models that cache: `hit`, `miss`, or `bypass` (the caller's `cache-control`).
pub const CACHE_HEADER: &str = "x-switchyard-cache";

/// Locks the cache is split over.
const SHARDS: usize = 16;

/// What an entry costs besides its encoded answer: the map slot, the queue
/// slot, the provider's names and the allocations' headers, roughly.
const ENTRY_OVERHEAD: usize = 256;

/// The kind of call: the same request asked unary and streamed is cached apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Chat = 1,
    ChatStream = 2,
    Embed = 3,
}

/// How a request met the cache, as [`CACHE_HEADER`] says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Hit,
    Miss,
    Bypass,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Bypass => "bypass",
        }
    }
}

/// A kept answer, as the call answered it.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Chat(ChatResponse),
    /// Every chunk, the usage chunk included.
    Stream(Vec<ChatChunk>),
    Embed(EmbedResponse),
}

impl Answer {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Chat(r) => r.encoded_len(),
            Self::Stream(chunks) => chunks.iter().map(Message::encoded_len).sum(),
            Self::Embed(r) => r.encoded_len(),
        }
    }
}

/// A kept answer and what produced it.
#[derive(Debug)]
pub(crate) struct Cached {
    pub answer: Answer,
    /// The provider instance that answered.
    pub provider: String,
    /// The provider's model that answered.
    pub upstream_model: String,
}

type Key = [u8; 32];

struct Entry {
    value: Arc<Cached>,
    expires: Instant,
    bytes: usize,
    /// Which insertion this is, so the age queue's stale slots are told apart.
    serial: u64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Key, Entry>,
    /// Keys by insertion, oldest first, with the serial they were inserted as.
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    serial: u64,
}

impl Shard {
    fn remove(&mut self, key: &Key) -> Option<Entry> {
        let entry = self.entries.remove(key)?;
        self.bytes -= entry.bytes;
        Some(entry)
    }

    /// Forgets the age queue's slots of replaced entries once they outnumber the
    /// live ones, so answers replaced over and over behind a long-lived one
    /// cannot grow the queue without bound (amortised: at most once per as
    /// many insertions as there are entries).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.order
                .retain(|(key, serial)| entries.get(key).is_some_and(|e| e.serial == *serial));
        }
    }

    /// Drops the oldest entries (and any expired ones met on the way) until
    /// `room` more bytes fit under `limit`.
    fn make_room(&mut self, room: usize, limit: usize, now: Instant) -> usize {
        let mut freed = 0;
        while let Some(&(key, serial)) = self.order.front() {
            let current = self.entries.get(&key).map(|e| (e.serial, e.expires));
            match current {
                // A slot for an entry since replaced or removed: no longer needed.
                Some((s, _)) if s != serial => {}
                None => {}
                Some((_, expires)) if self.bytes + room > limit || expires <= now => {
                    freed += self.remove(&key).map_or(0, |e| e.bytes);
                }
                Some(_) => break,
            }
            self.order.pop_front();
        }
        freed
    }
}

/// The cache of one router replica. Cheap to clone.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    shard_bytes: usize,
    bytes: AtomicU64,
}

/// A request's place in the cache: where its answer is looked up and kept.
#[derive(Clone)]
pub(crate) struct Slot {
    cache: ResponseCache,
    key: Key,
    ttl: Duration,
    /// Whether the answer may be kept (`no-store` says not).
    pub(crate) keep: bool,
    /// How the request met the cache so far.
    pub(crate) status: Status,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slot")
            .field("ttl", &self.ttl)
            .field("keep", &self.keep)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Slot {
    /// Keeps `answer` for the slot's time, unless the caller said `no-store`.
    pub(crate) fn keep(&self, answer: Answer, provider: &str, upstream_model: &str) {
        if self.keep {
            self.cache.put(
                self.key,
                Cached {
                    answer,
                    provider: provider.to_string(),
                    upstream_model: upstream_model.to_string(),
                },
                self.ttl,
            );
        }
    }

    /// The most bytes one answer may take and still be kept (a streamed answer
    /// stops being collected past it).
    pub(crate) fn max_answer_bytes(&self) -> usize {
        self.cache.inner.shard_bytes.saturating_sub(ENTRY_OVERHEAD)
    }
}

/// A streamed answer collected for the cache as it passes, up to the most one
/// answer may take.
pub(crate) struct Collect {
    slot: Slot,
    chunks: Vec<ChatChunk>,
    bytes: usize,
    /// Past the bound: nothing will be kept.
    over: bool,
}

impl Collect {
    /// A collection for `slot`, when its answer may be kept.
    pub(crate) fn new(slot: Slot) -> Option<Self> {
        slot.keep.then(|| Self {
            slot,
            chunks: Vec::new(),
            bytes: 0,
            over: false,
        })
    }

    /// Adds the next chunk.
    pub(crate) fn push(&mut self, chunk: &ChatChunk) {
        if self.over {
            return;
        }
        self.bytes = self.bytes.saturating_add(chunk.encoded_len());
        if self.bytes > self.slot.max_answer_bytes() {
            self.over = true;
            self.chunks = Vec::new();
        } else {
            self.chunks.push(chunk.clone());
        }
    }

    /// Keeps the whole stream (the caller saw it end well).
    pub(crate) fn keep(self, provider: &str, upstream_model: &str) {
        if !self.over {
            self.slot
                .keep(Answer::Stream(self.chunks), provider, upstream_model);
        }
    }
}

/// What the caller's `cache-control` allows: (look up, keep).
fn directives(metadata: &MetadataMap) -> (bool, bool) {
    let mut lookup = true;
    let mut keep = true;
    for value in metadata.get_all("cache-control") {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            if directive.eq_ignore_ascii_case("no-cache") {
                lookup = false;
            } else if directive.eq_ignore_ascii_case("no-store") {
                lookup = false;
                keep = false;
            }
        }
    }
    (lookup, keep)
}

/// The request as the key reads it: a chat or an embeddings request.
pub(crate) enum Keyed<'a> {
    Chat(&'a mut ChatRequest, Kind),
    Embed(&'a mut EmbedRequest),
}

impl Keyed<'_> {
    /// The kind, the request's protobuf encoding without its timeouts and
    /// metadata, and its metadata sorted. The request is left as it was.
    fn parts(self) -> (Kind, Vec<u8>, Vec<(String, String)>) {
        let (kind, bytes, metadata) = match self {
            Keyed::Chat(req, kind) => {
                let metadata = std::mem::take(&mut req.metadata);
                let timeouts = req.timeouts.take();
                let bytes = req.encode_to_vec();
                req.timeouts = timeouts;
                req.metadata = metadata;
                (kind, bytes, &req.metadata)
            }
            Keyed::Embed(req) => {
                let metadata = std::mem::take(&mut req.metadata);
                let bytes = req.encode_to_vec();
                req.metadata = metadata;
                (Kind::Embed, bytes, &req.metadata)
            }
        };
        let mut sorted: Vec<_> = metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        sorted.sort_unstable();
        (kind, bytes, sorted)
    }
}

/// The key of `request` for `tenant`.
fn key(tenant: &str, request: Keyed<'_>) -> Key {
    let (kind, bytes, metadata) = request.parts();
    let mut hash = Sha256::new();
    // Lengths before variable parts, so no two different inputs run together.
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(b"switchyard-cache-v1");
    field(&[kind as u8]);
    field(tenant.as_bytes());
    field(&bytes);
    for (k, v) in &metadata {
        field(k.as_bytes());
        field(v.as_bytes());
    }
    hash.finalize().into()
}

impl ResponseCache {
    /// A cache of at most `max_bytes` (0: nothing is ever kept or found).
    pub fn new(max_bytes: u64) -> Self {
        let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                shard_bytes: max / SHARDS,
                bytes: AtomicU64::new(0),
            }),
        }
    }

    /// Bytes held now (entries' encoded size plus overhead).
    #[cfg(test)]
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// The slot of a request to a model caching for `ttl` (none: the model does
    /// not cache, or this router keeps nothing), with what the caller's
    /// `cache-control` allows; a kept answer is returned when the lookup found
    /// one. Counted in `switchyard_cache_lookups_total{outcome}`.
    pub(crate) fn lookup(
        &self,
        ttl: Option<Duration>,
        tenant: &str,
        metadata: &MetadataMap,
        request: Keyed<'_>,
    ) -> Option<(Slot, Option<Arc<Cached>>)> {
        let ttl = ttl.filter(|_| self.inner.shard_bytes > ENTRY_OVERHEAD)?;
        let (lookup, keep) = directives(metadata);
        let key = key(tenant, request);
        let found = if lookup { self.get(&key) } else { None };
        let status = match (&found, lookup) {
            (Some(_), _) => Status::Hit,
            (None, true) => Status::Miss,
            (None, false) => Status::Bypass,
        };
        switchyard_telemetry::metrics::counter!(
            switchyard_telemetry::names::CACHE_LOOKUPS, "outcome" => status.as_str()
        )
        .increment(1);
        let slot = Slot {
            cache: self.clone(),
            key,
            ttl,
            keep,
            status,
        };
        Some((slot, found))
    }

    /// The shard holding `key`, locked. A panic while it was held cannot leave an
    /// entry half-made (each change completes under the lock), so a poisoned lock
    /// is used as it is.
    /// Forgets every kept answer: a reload may have changed what a model's
    /// requests would be answered with.
    pub(crate) fn clear(&self) {
        for shard in &self.inner.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let freed = std::mem::take(&mut *shard).bytes;
            self.account(0, freed);
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        self.inner.shards[usize::from(key[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, key: &Key) -> Option<Arc<Cached>> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.value.clone()),
            Some(_) => {
                let freed = shard.remove(key).map_or(0, |e| e.bytes);
                self.account(0, freed);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: Key, cached: Cached, ttl: Duration) {
        let bytes = cached.answer.encoded_len().saturating_add(ENTRY_OVERHEAD);
        let limit = self.inner.shard_bytes;
        if bytes > limit {
            return;
        }
        let now = Instant::now();
        let mut shard = self.shard(&key);
        let mut freed = shard.remove(&key).map_or(0, |e| e.bytes);
        freed += shard.make_room(bytes, limit, now);
        shard.compact();
        shard.serial += 1;
        let serial = shard.serial;
        shard.bytes += bytes;
        shard.order.push_back((key, serial));
        shard.entries.insert(
            key,
            Entry {
                value: Arc::new(cached),
                expires: now + ttl,
                bytes,
                serial,
            },
        );
        self.account(bytes, freed);
    }

    /// Adds `added` and takes `freed` bytes from the total. Called with the
    /// shard's lock held, so an entry's bytes are always added before they can be
    /// taken away.
    fn account(&self, added: usize, freed: usize) {
        let (added, freed) = (added as u64, freed as u64);
        let total = if added >= freed {
            self.inner.bytes.fetch_add(added - freed, Ordering::Relaxed) + (added - freed)
        } else {
            self.inner.bytes.fetch_sub(freed - added, Ordering::Relaxed) - (freed - added)
        };
        switchyard_telemetry::metrics::gauge!(switchyard_telemetry::names::CACHE_BYTES)
            .set(total as f64);
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
