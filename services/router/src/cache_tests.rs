use std::collections::HashMap;
use std::time::Duration;

use switchyard_proto::types::v1::{Message, Timeouts};
use tonic::metadata::MetadataMap;

use super::*;

const MINUTE: Option<Duration> = Some(Duration::from_secs(60));

impl Lookup {
    /// The slot and answer of a lookup that did not wait.
    fn done(self) -> (Slot, Option<Arc<Cached>>) {
        match self {
            Lookup::Done(slot, found) => (slot, found),
            Lookup::Wait(_) => panic!("the lookup waits"),
        }
    }
}

/// Looks `req` up as a call of `kind`, without cache-control.
fn look(cache: &ResponseCache, req: &mut ChatRequest, kind: Kind) -> Lookup {
    cache
        .lookup(MINUTE, "t", &no_headers(), Keyed::Chat(req, kind))
        .unwrap()
}

fn request(text: &str) -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        messages: vec![Message::user_text(text)],
        ..Default::default()
    }
}

fn answer(text: &str) -> Answer {
    Answer::Chat(ChatResponse {
        id: text.into(),
        ..Default::default()
    })
}

fn no_headers() -> MetadataMap {
    MetadataMap::new()
}

fn cache_control(value: &'static str) -> MetadataMap {
    let mut m = MetadataMap::new();
    m.insert("cache-control", value.parse().unwrap());
    m
}

/// Looks `req` up for tenant `t` as a unary chat; on a miss keeps `answer`.
fn ask(cache: &ResponseCache, t: &str, req: &mut ChatRequest, keep: &str) -> (Status, String) {
    ask_with(cache, t, req, keep, &no_headers())
}

fn ask_with(
    cache: &ResponseCache,
    t: &str,
    req: &mut ChatRequest,
    keep: &str,
    headers: &MetadataMap,
) -> (Status, String) {
    let (slot, found) = cache
        .lookup(MINUTE, t, headers, Keyed::Chat(req, Kind::Chat))
        .expect("the model caches")
        .done();
    match found {
        Some(cached) => match &cached.answer {
            Answer::Chat(r) => (slot.status, r.id.clone()),
            other => panic!("{other:?}"),
        },
        None => {
            slot.keep(answer(keep), "p", "u");
            (slot.status, String::new())
        }
    }
}

#[test]
fn the_key_ignores_timeouts_and_metadata_order_but_not_what_changes_an_answer() {
    let base = request("hi");
    let key_of =
        |mut r: ChatRequest, tenant: &str, kind: Kind| key(tenant, Keyed::Chat(&mut r, kind));
    let k = key_of(base.clone(), "t", Kind::Chat);
    let mut timed = base.clone();
    timed.timeouts = Some(Timeouts {
        total_ms: Some(5),
        ..Default::default()
    });
    assert_eq!(key_of(timed.clone(), "t", Kind::Chat), k);

    let tags = |pairs: &[(&str, &str)]| {
        let mut r = base.clone();
        r.metadata = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<HashMap<_, _>>();
        r
    };
    let ab = tags(&[("a", "1"), ("b", "2")]);
    let ba = tags(&[("b", "2"), ("a", "1")]);
    assert_eq!(
        key_of(ab.clone(), "t", Kind::Chat),
        key_of(ba, "t", Kind::Chat)
    );
    assert_ne!(key_of(ab, "t", Kind::Chat), k, "tags route, so they count");
    // A field and its neighbour must not run together.
    assert_ne!(
        key_of(tags(&[("ab", "")]), "t", Kind::Chat),
        key_of(tags(&[("a", "b")]), "t", Kind::Chat)
    );

    assert_ne!(key_of(base.clone(), "u", Kind::Chat), k, "tenants apart");
    assert_ne!(
        key_of(base.clone(), "t", Kind::ChatStream),
        k,
        "kinds apart"
    );
    let mut warmer = base.clone();
    warmer.temperature = Some(0.5);
    assert_ne!(key_of(warmer, "t", Kind::Chat), k);
    assert_ne!(key_of(request("ho"), "t", Kind::Chat), k);

    // The request is left as it was.
    let mut r = timed;
    r.metadata.insert("x".into(), "y".into());
    let before = r.clone();
    key("t", Keyed::Chat(&mut r, Kind::Chat));
    assert_eq!(r, before);
}

#[test]
fn a_kept_answer_is_found_by_the_same_tenant_only() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    assert_eq!(
        ask(&cache, "t", &mut req, "first"),
        (Status::Miss, String::new())
    );
    assert_eq!(
        ask(&cache, "t", &mut req, "second"),
        (Status::Hit, "first".into())
    );
    assert_eq!(
        ask(&cache, "u", &mut req, "other"),
        (Status::Miss, String::new())
    );
    assert_eq!(
        ask(&cache, "u", &mut req, "x"),
        (Status::Hit, "other".into())
    );
    assert!(cache.bytes() > 0);
}

#[test]
fn models_without_a_ttl_and_routers_without_memory_cache_nothing() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    assert!(
        cache
            .lookup(None, "t", &no_headers(), Keyed::Chat(&mut req, Kind::Chat))
            .is_none()
    );
    let off = ResponseCache::new(0);
    assert!(
        off.lookup(
            MINUTE,
            "t",
            &no_headers(),
            Keyed::Chat(&mut req, Kind::Chat)
        )
        .is_none()
    );
}

#[test]
fn cache_control_skips_the_lookup_or_the_keeping() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    ask(&cache, "t", &mut req, "old");
    // no-cache: not looked up, and the fresh answer replaces the kept one.
    let fresh = cache_control("no-cache");
    assert_eq!(
        ask_with(&cache, "t", &mut req, "new", &fresh),
        (Status::Bypass, String::new())
    );
    assert_eq!(ask(&cache, "t", &mut req, "x"), (Status::Hit, "new".into()));
    // no-store (among other directives, any case): neither.
    let none = cache_control("max-age=0, No-Store");
    assert_eq!(
        ask_with(&cache, "t", &mut req, "newer", &none),
        (Status::Bypass, String::new())
    );
    assert_eq!(ask(&cache, "t", &mut req, "x"), (Status::Hit, "new".into()));
}

#[tokio::test(start_paused = true)]
async fn answers_expire_after_their_ttl() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    ask(&cache, "t", &mut req, "first");
    tokio::time::advance(Duration::from_secs(59)).await;
    assert_eq!(
        ask(&cache, "t", &mut req, "x"),
        (Status::Hit, "first".into())
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        ask(&cache, "t", &mut req, "second"),
        (Status::Miss, String::new())
    );
    assert_eq!(
        ask(&cache, "t", &mut req, "x"),
        (Status::Hit, "second".into())
    );
}

#[test]
fn memory_is_bounded_and_the_oldest_answers_go_first() {
    // 16 shards of 4 KiB: each holds a handful of these answers.
    let max = 16 * 4096;
    let cache = ResponseCache::new(max);
    let big = "x".repeat(700);
    let mut requests: Vec<ChatRequest> = (0..400).map(|i| request(&format!("q{i}"))).collect();
    for (i, req) in requests.iter_mut().enumerate() {
        ask(&cache, "t", req, &format!("{big}{i}"));
        assert!(cache.bytes() <= max, "{} > {max}", cache.bytes());
    }
    assert!(cache.bytes() > max / 2, "{}", cache.bytes());
    // The newest answer is there; the first ones made room long ago.
    let last = requests.len() - 1;
    let (status, id) = ask(&cache, "t", &mut requests[last], "x");
    assert_eq!((status, id), (Status::Hit, format!("{big}{last}")));
    let (status, _) = ask(&cache, "t", &mut requests[0], "again");
    assert_eq!(status, Status::Miss);
}

#[test]
fn answers_larger_than_a_shard_are_not_kept() {
    let cache = ResponseCache::new(16 * 1024);
    let mut req = request("hi");
    ask(&cache, "t", &mut req, &"x".repeat(2000));
    assert_eq!(cache.bytes(), 0);
    assert_eq!(ask(&cache, "t", &mut req, "small").0, Status::Miss);
    assert_eq!(
        ask(&cache, "t", &mut req, "x"),
        (Status::Hit, "small".into())
    );
}

#[test]
fn a_stream_is_collected_whole_or_not_at_all() {
    let cache = ResponseCache::new(16 * 1024);
    let chunk = |text: &str| ChatChunk {
        id: text.into(),
        ..Default::default()
    };
    let mut req = request("hi");
    let mut lookup = |cache: &ResponseCache| {
        cache
            .lookup(
                MINUTE,
                "t",
                &no_headers(),
                Keyed::Chat(&mut req, Kind::ChatStream),
            )
            .unwrap()
            .done()
    };
    // Past the bound (1 KiB a shard here), nothing is kept.
    let (slot, _) = lookup(&cache);
    let mut c = Collect::new(slot).unwrap();
    for _ in 0..20 {
        c.push(&chunk(&"y".repeat(100)));
    }
    c.keep("p", "u");
    assert_eq!(cache.bytes(), 0);
    let (slot, found) = lookup(&cache);
    assert!(found.is_none());
    let mut c = Collect::new(slot).unwrap();
    c.push(&chunk("a"));
    c.push(&chunk("b"));
    c.keep("p", "u");
    let (slot, found) = lookup(&cache);
    assert_eq!(slot.status, Status::Hit);
    let found = found.unwrap();
    assert_eq!(
        (found.provider.as_str(), found.upstream_model.as_str()),
        ("p", "u")
    );
    match &found.answer {
        Answer::Stream(chunks) => {
            let ids: Vec<_> = chunks.iter().map(|c| c.id.as_str()).collect();
            assert_eq!(ids, ["a", "b"]);
        }
        other => panic!("{other:?}"),
    }
    // no-store: nothing to collect.
    let (slot, _) = cache
        .lookup(
            MINUTE,
            "t",
            &cache_control("no-store"),
            Keyed::Chat(&mut request("other"), Kind::ChatStream),
        )
        .unwrap()
        .done();
    assert!(Collect::new(slot).is_none());
}

#[test]
fn answers_replaced_over_and_over_do_not_grow_the_age_queue() {
    let cache = ResponseCache::new(1 << 20);
    let mut old = request("kept");
    ask(&cache, "t", &mut old, "old");
    let mut req = request("hi");
    let fresh = cache_control("no-cache");
    for i in 0..10_000 {
        ask_with(&cache, "t", &mut req, &i.to_string(), &fresh);
    }
    let queued: usize = cache
        .inner
        .shards
        .iter()
        .map(|s| s.lock().unwrap().order.len())
        .sum();
    assert!(queued < 200, "{queued}");
    assert_eq!(ask(&cache, "t", &mut old, "x"), (Status::Hit, "old".into()));
}

#[test]
fn clearing_forgets_every_answer() {
    let cache = ResponseCache::new(1 << 20);
    let mut requests: Vec<ChatRequest> = (0..50).map(|i| request(&i.to_string())).collect();
    for req in &mut requests {
        ask(&cache, "t", req, "kept");
    }
    assert!(cache.bytes() > 0);
    cache.clear();
    assert_eq!(cache.bytes(), 0);
    for req in &mut requests {
        assert_eq!(ask(&cache, "t", req, "again").0, Status::Miss);
    }
}

#[tokio::test]
async fn an_identical_unary_miss_in_flight_is_waited_for_then_found() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    let (lead, found) = look(&cache, &mut req, Kind::Chat).done();
    assert_eq!((lead.status, found.is_none()), (Status::Miss, true));
    // Two identical requests wait; another tenant's, a stream, and a caller
    // asking for a fresh answer do not.
    let Lookup::Wait(first) = look(&cache, &mut req, Kind::Chat) else {
        panic!("not waiting");
    };
    let Lookup::Wait(second) = look(&cache, &mut req, Kind::Chat) else {
        panic!("not waiting");
    };
    let (other, _) = cache
        .lookup(
            MINUTE,
            "u",
            &no_headers(),
            Keyed::Chat(&mut req, Kind::Chat),
        )
        .unwrap()
        .done();
    assert_eq!(other.status, Status::Miss);
    let (stream, _) = look(&cache, &mut req, Kind::ChatStream).done();
    assert_eq!(stream.status, Status::Miss);
    let (fresh, _) = cache
        .lookup(
            MINUTE,
            "t",
            &cache_control("no-cache"),
            Keyed::Chat(&mut req, Kind::Chat),
        )
        .unwrap()
        .done();
    assert_eq!(fresh.status, Status::Bypass);
    drop((other, stream, fresh));

    let waiters = tokio::spawn(async move {
        let (a, b) = tokio::join!(first.wait(None), second.wait(None));
        [a, b].map(|(slot, found)| {
            (
                slot.status,
                found.map(|c| match &c.answer {
                    Answer::Chat(r) => r.id.clone(),
                    other => panic!("{other:?}"),
                }),
            )
        })
    });
    lead.keep(answer("kept"), "p", "u");
    drop(lead);
    let got = waiters.await.unwrap();
    assert_eq!(
        got,
        [
            (Status::Hit, Some("kept".to_string())),
            (Status::Hit, Some("kept".to_string()))
        ]
    );
}

#[tokio::test]
async fn when_the_first_call_keeps_nothing_one_waiter_leads_the_next() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    let (lead, _) = look(&cache, &mut req, Kind::Embed).done();
    let Lookup::Wait(a) = look(&cache, &mut req, Kind::Embed) else {
        panic!("not waiting");
    };
    let Lookup::Wait(b) = look(&cache, &mut req, Kind::Embed) else {
        panic!("not waiting");
    };
    // The call failed: nothing kept.
    drop(lead);
    let (a, found) = a.wait(None).await;
    assert_eq!((a.status, found.is_none()), (Status::Miss, true));
    // `a` leads the next call now; `b` waited once and runs its own.
    let (b, found) = b.wait(None).await;
    assert_eq!((b.status, found.is_none()), (Status::Miss, true));
    assert!(matches!(
        look(&cache, &mut req, Kind::Embed),
        Lookup::Wait(_)
    ));
    drop(b);
    assert!(matches!(
        look(&cache, &mut req, Kind::Embed),
        Lookup::Wait(_)
    ));
    drop(a);
    let (next, _) = look(&cache, &mut req, Kind::Embed).done();
    assert_eq!(next.status, Status::Miss);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_stops_waiting_at_its_deadline() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    let (_lead, _) = look(&cache, &mut req, Kind::Chat).done();
    let Lookup::Wait(wait) = look(&cache, &mut req, Kind::Chat) else {
        panic!("not waiting");
    };
    let deadline = Instant::now() + Duration::from_millis(300);
    let (slot, found) = wait.wait(Some(deadline)).await;
    assert!(Instant::now() >= deadline);
    assert_eq!((slot.status, found.is_none()), (Status::Miss, true));
}

#[test]
fn calls_running_across_a_clear_keep_nothing() {
    let cache = ResponseCache::new(1 << 20);
    let mut req = request("hi");
    let (slot, _) = look(&cache, &mut req, Kind::Chat).done();
    cache.clear();
    slot.keep(answer("stale"), "p", "u");
    drop(slot);
    assert_eq!(cache.bytes(), 0);
    assert_eq!(
        ask(&cache, "t", &mut req, "fresh"),
        (Status::Miss, String::new())
    );
    assert_eq!(
        ask(&cache, "t", &mut req, "x"),
        (Status::Hit, "fresh".into())
    );
}
