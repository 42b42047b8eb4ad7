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
//! - **One call for a burst.** While a unary miss (chat or embeddings) is being
//!   answered, an identical request waits for it (within its own deadline) and
//!   is then looked up again: a burst of the same request costs one provider
//!   call. If the first call's answer was not kept (it failed, its caller left,
//!   it was too large), the waiters look again without waiting a second time:
//!   one of them leads the next call. Streams never wait (a waiter would see
//!   its first token only after the whole of the first stream).
//! - **Reloads.** [`ResponseCache::clear`] forgets every answer, and an answer
//!   whose call started before the reload is not kept.

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
use tokio_util::sync::CancellationToken;
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

/// The `outcome` of a lookup that found the same request being answered.
const WAIT_OUTCOME: &str = "wait";

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

/// A unary miss being answered now: identical requests wait for `done`.
struct Flight {
    /// Which flight this is, so an ended one removes only itself.
    serial: u64,
    done: CancellationToken,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Key, Entry>,
    /// Keys by insertion, oldest first, with the serial they were inserted as.
    order: VecDeque<(Key, u64)>,
    bytes: usize,
    serial: u64,
    flights: HashMap<Key, Flight>,
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
    /// Bumped by every [`ResponseCache::clear`]: answers of calls looked up
    /// before it are not kept.
    generation: AtomicU64,
}

/// A request's place in the cache: where its answer is looked up and kept.
pub(crate) struct Slot {
    cache: ResponseCache,
    key: Key,
    ttl: Duration,
    /// The cache's generation when the request was looked up.
    generation: u64,
    /// Whether the answer may be kept (`no-store` says not).
    pub(crate) keep: bool,
    /// How the request met the cache so far.
    pub(crate) status: Status,
    /// The flight identical requests wait on while this one is answered; it
    /// ends when the slot is dropped (after its answer was kept, or not).
    _lead: Option<Lead>,
}

/// Ends a [`Flight`] when dropped: removes it, then wakes its waiters.
struct Lead {
    cache: ResponseCache,
    key: Key,
    serial: u64,
    done: CancellationToken,
}

impl Drop for Lead {
    fn drop(&mut self) {
        let mut shard = self.cache.shard(&self.key);
        if shard
            .flights
            .get(&self.key)
            .is_some_and(|f| f.serial == self.serial)
        {
            shard.flights.remove(&self.key);
        }
        drop(shard);
        self.done.cancel();
    }
}

/// What a lookup decided.
pub(crate) enum Lookup {
    /// The request's slot, with the kept answer on a hit.
    Done(Slot, Option<Arc<Cached>>),
    /// The same request is being answered now: [`Wait::wait`] for it.
    Wait(Wait),
}

/// A request waiting for an identical one being answered.
pub(crate) struct Wait {
    cache: ResponseCache,
    key: Key,
    kind: Kind,
    ttl: Duration,
    done: CancellationToken,
}

impl Wait {
    /// Waits until the identical call ends (or `deadline`, the waiter's own),
    /// then looks again; this time a call in flight is not waited for.
    pub(crate) async fn wait(self, deadline: Option<Instant>) -> (Slot, Option<Arc<Cached>>) {
        let done = self.done.cancelled();
        match deadline {
            Some(at) => {
                let _ = tokio::time::timeout_at(at, done).await;
            }
            None => done.await,
        }
        match self
            .cache
            .probe(self.key, self.kind, self.ttl, (true, true), false)
        {
            Lookup::Done(slot, found) => (slot, found),
            // Not asked to wait: never reached. A slot that keeps nothing.
            Lookup::Wait(wait) => (
                Slot {
                    cache: wait.cache,
                    key: wait.key,
                    ttl: wait.ttl,
                    generation: 0,
                    keep: false,
                    status: Status::Miss,
                    _lead: None,
                },
                None,
            ),
        }
    }
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
                self.generation,
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

/// The key of `request` for `tenant`, and its kind.
fn key(tenant: &str, request: Keyed<'_>) -> (Key, Kind) {
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
    (hash.finalize().into(), kind)
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
                generation: AtomicU64::new(0),
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
    /// one, and a [`Wait`] when an identical unary call is being answered.
    /// Counted in `switchyard_cache_lookups_total{outcome}`.
    pub(crate) fn lookup(
        &self,
        ttl: Option<Duration>,
        tenant: &str,
        metadata: &MetadataMap,
        request: Keyed<'_>,
    ) -> Option<Lookup> {
        let ttl = ttl.filter(|_| self.inner.shard_bytes > ENTRY_OVERHEAD)?;
        let (key, kind) = key(tenant, request);
        Some(self.probe(key, kind, ttl, directives(metadata), true))
    }

    /// Looks `key` up (when `lookup`), and on a miss of a unary call that may
    /// be kept, joins the identical call in flight (when `may_wait`) or leads a
    /// new one (when none is).
    fn probe(
        &self,
        key: Key,
        kind: Kind,
        ttl: Duration,
        (lookup, keep): (bool, bool),
        may_wait: bool,
    ) -> Lookup {
        let generation = self.inner.generation.load(Ordering::Acquire);
        let coalesce = lookup && keep && kind != Kind::ChatStream;
        let now = Instant::now();
        let mut shard = self.shard(&key);
        let found = if lookup {
            self.get(&mut shard, &key, now)
        } else {
            None
        };
        let (status, lead) = match (&found, lookup) {
            (Some(_), _) => (Status::Hit, None),
            (None, false) => (Status::Bypass, None),
            (None, true) if !coalesce => (Status::Miss, None),
            (None, true) => match shard.flights.get(&key) {
                Some(flight) if may_wait => {
                    let done = flight.done.clone();
                    drop(shard);
                    count(WAIT_OUTCOME);
                    return Lookup::Wait(Wait {
                        cache: self.clone(),
                        key,
                        kind,
                        ttl,
                        done,
                    });
                }
                // Waited once already: this one runs its own call.
                Some(_) => (Status::Miss, None),
                None => {
                    shard.serial += 1;
                    let serial = shard.serial;
                    let done = CancellationToken::new();
                    shard.flights.insert(
                        key,
                        Flight {
                            serial,
                            done: done.clone(),
                        },
                    );
                    let lead = Lead {
                        cache: self.clone(),
                        key,
                        serial,
                        done,
                    };
                    (Status::Miss, Some(lead))
                }
            },
        };
        drop(shard);
        count(status.as_str());
        let slot = Slot {
            cache: self.clone(),
            key,
            ttl,
            generation,
            keep,
            status,
            _lead: lead,
        };
        Lookup::Done(slot, found)
    }

    /// Forgets every kept answer: a reload may have changed what a model's
    /// requests would be answered with. Calls running now keep nothing.
    pub(crate) fn clear(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        for shard in &self.inner.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            let freed = shard.bytes;
            shard.entries.clear();
            shard.order.clear();
            shard.bytes = 0;
            self.account(0, freed);
        }
    }

    /// The shard holding `key`, locked. A panic while it was held cannot leave an
    /// entry half-made (each change completes under the lock), so a poisoned lock
    /// is used as it is.
    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        self.inner.shards[usize::from(key[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The live entry of `key` in the locked `shard`; an expired one is dropped.
    fn get(&self, shard: &mut Shard, key: &Key, now: Instant) -> Option<Arc<Cached>> {
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

    fn put(&self, key: Key, cached: Cached, ttl: Duration, generation: u64) {
        let bytes = cached.answer.encoded_len().saturating_add(ENTRY_OVERHEAD);
        let limit = self.inner.shard_bytes;
        if bytes > limit {
            return;
        }
        let now = Instant::now();
        let mut shard = self.shard(&key);
        // Checked under the lock `clear` takes after bumping it: an answer is
        // either cleared or never kept.
        if self.inner.generation.load(Ordering::Acquire) != generation {
            return;
        }
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

/// Counts one lookup with this `outcome`.
fn count(outcome: &'static str) {
    switchyard_telemetry::metrics::counter!(
        switchyard_telemetry::names::CACHE_LOOKUPS, "outcome" => outcome
    )
    .increment(1);
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
