//! Tests of `attempts.rs`: the order deployments are tried in, retries,
//! fallbacks, hedging and their limits.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::*;

/// Deployments `a`, `b`, `c` (priced) of model `m`, tried in that order, and
/// the extra models in `more`.
fn table(m_extra: &str, more: &str) -> ModelTable {
    let price = r#"price = { input_per_million = "1", output_per_million = "2" }"#;
    let config = switchyard_config::load_str(&format!(
        r#"
version = 1
[[providers]]
name = "p"
kind = "mock"
[[models]]
name = "m"
strategy = "ordered"
{m_extra}
deployments = [{{ provider = "p", model = "a", {price} }}, {{ provider = "p", model = "b", {price} }}, {{ provider = "p", model = "c", {price} }}]
{more}
"#
    ))
    .unwrap();
    let prices = crate::pricing::resolve(&config).unwrap();
    ModelTable::from_config(&config, &prices)
}

/// Up to three attempts; `free` retries a second, nothing earned.
fn policy(free: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        budget: RetryBudget::new(0, free),
        backoff: Duration::from_secs(1),
        backoff_max: Duration::from_secs(2),
    }
}

fn health() -> Health {
    Health::new(5, Duration::from_secs(10))
}

/// How a fake provider answers a call: after this long, this way.
#[derive(Clone)]
struct Step {
    after: Duration,
    fails: Option<ApiError>,
}

fn answers(ms: u64) -> Step {
    Step {
        after: Duration::from_millis(ms),
        fails: None,
    }
}

fn fails(ms: u64) -> Step {
    Step {
        after: Duration::from_millis(ms),
        fails: Some(ApiError::new(ErrorCode::UpstreamUnavailable, "down")),
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<String, Status>> + Send>>;

/// A fake provider: each call on upstream model `x` takes the next step
/// scripted for `x` and answers with `x`. The calls are logged, in order.
struct Fake {
    steps: Arc<Mutex<HashMap<String, VecDeque<Step>>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn new(script: &[(&str, Step)]) -> Self {
        let mut steps: HashMap<String, VecDeque<Step>> = HashMap::new();
        for (model, step) in script {
            steps
                .entry((*model).to_string())
                .or_default()
                .push_back(step.clone());
        }
        Self {
            steps: Arc::new(Mutex::new(steps)),
            calls: Arc::default(),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn call(&self) -> impl FnMut(Deployment) -> Answer + use<> {
        let (steps, calls) = (self.steps.clone(), self.calls.clone());
        move |d: Deployment| {
            let model = d.upstream_model;
            calls.lock().unwrap().push(model.clone());
            let step = steps
                .lock()
                .unwrap()
                .get_mut(&model)
                .and_then(VecDeque::pop_front)
                .unwrap_or_else(|| panic!("no call scripted for {model}"));
            Box::pin(async move {
                tokio::time::sleep(step.after).await;
                match step.fails {
                    Some(err) => Err(err.to_status()),
                    None => Ok(model),
                }
            })
        }
    }
}

/// Tries model `m`'s plan with the fake provider.
async fn run(
    models: &ModelTable,
    policy: &RetryPolicy,
    health: &Health,
    fake: &Fake,
) -> Tried<String> {
    let mut plan: VecDeque<Deployment> = models
        .get("m")
        .unwrap()
        .plan(health, RouteInput::none())
        .into_iter()
        .cloned()
        .collect();
    let first = plan.pop_front().unwrap();
    with_fallbacks(
        models,
        "m",
        first,
        plan.into(),
        policy,
        health,
        RouteInput::none(),
        fake.call(),
    )
    .await
}

/// (upstream model, outcome, hedged) of each earlier attempt.
fn listed(earlier: &[Earlier]) -> Vec<(String, Outcome, bool)> {
    earlier
        .iter()
        .map(|e| {
            (
                e.attempt.upstream_model.clone(),
                Outcome::try_from(e.attempt.outcome).unwrap(),
                e.attempt.hedged,
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_hedged_after_the_delay_and_the_hedge_wins() {
    let models = table("hedge_after_ms = 100", "");
    let (policy, health) = (policy(1), health());
    let fake = Fake::new(&[("a", answers(1_000)), ("b", answers(10))]);
    let mut tried = std::pin::pin!(run(&models, &policy, &health, &fake));
    // Before the delay only the first attempt runs.
    assert!(
        tokio::time::timeout(Duration::from_millis(99), &mut tried)
            .await
            .is_err()
    );
    assert_eq!(fake.calls(), ["a"]);
    let tried = tried.await;
    assert_eq!(tried.result.unwrap(), "b");
    assert_eq!(tried.deployment.upstream_model, "b");
    assert_eq!(fake.calls(), ["a", "b"]);
    assert_eq!(
        listed(&tried.earlier),
        [("a".into(), Outcome::Cancelled, true)]
    );
    assert_eq!(
        tried.earlier[0].price,
        models.get("m").unwrap().deployments[0].price
    );
    // The loser was abandoned, not failed; the hedge took the one free retry.
    let a = &models.get("m").unwrap().deployments[0];
    assert_eq!(health.in_flight(a), 0);
    assert_eq!(health.gate(a), Gate::Closed);
    assert!(!policy.budget.try_withdraw());
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_can_still_win_the_race() {
    let models = table("hedge_after_ms = 100", "");
    let (policy, health) = (policy(1), health());
    let fake = Fake::new(&[("a", answers(150)), ("b", answers(1_000))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(
        listed(&tried.earlier),
        [("b".into(), Outcome::Cancelled, true)]
    );
    assert_eq!(
        health.in_flight(&models.get("m").unwrap().deployments[1]),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn no_hedge_when_the_answer_comes_before_the_delay() {
    let models = table("hedge_after_ms = 100", "");
    let (policy, health) = (policy(10), health());
    let fake = Fake::new(&[("a", answers(50))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(fake.calls(), ["a"]);
    assert!(tried.earlier.is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_hedge_without_the_option_or_the_retry_budget() {
    // Not configured: the slow attempt is simply awaited.
    let models = table("", "");
    let health = health();
    let fake = Fake::new(&[("a", answers(1_000))]);
    let tried = run(&models, &policy(10), &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(fake.calls(), ["a"]);
    // Configured, but the retry budget is empty.
    let models = table("hedge_after_ms = 100", "");
    let fake = Fake::new(&[("a", answers(1_000))]);
    let tried = run(&models, &policy(0), &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(fake.calls(), ["a"]);
    assert!(tried.earlier.is_empty());
}

#[tokio::test(start_paused = true)]
async fn no_hedge_past_max_attempts() {
    let models = table("hedge_after_ms = 100", "");
    let policy = RetryPolicy {
        max_attempts: 1,
        ..policy(10)
    };
    let health = health();
    let fake = Fake::new(&[("a", answers(1_000))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(fake.calls(), ["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_the_race_waits_for_the_other_attempt() {
    let models = table("hedge_after_ms = 100", "");
    let health = health();
    // The hedge fails first: the first attempt's answer is still taken.
    let policy = policy(10);
    let fake = Fake::new(&[("a", answers(1_000)), ("b", fails(10))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "a");
    assert_eq!(fake.calls(), ["a", "b"]);
    assert_eq!(
        listed(&tried.earlier),
        [("b".into(), Outcome::Error, false)]
    );
    // The first attempt fails while the hedge runs: the hedge answers.
    let fake = Fake::new(&[("a", fails(200)), ("b", answers(500))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "b");
    assert_eq!(fake.calls(), ["a", "b"]);
    assert_eq!(
        listed(&tried.earlier),
        [("a".into(), Outcome::Error, false)]
    );
}

#[tokio::test(start_paused = true)]
async fn when_both_fail_the_plan_goes_on_without_another_hedge() {
    let models = table("hedge_after_ms = 100", "");
    let (policy, health) = (policy(10), health());
    let fake = Fake::new(&[("a", fails(300)), ("b", fails(50)), ("c", answers(1_000))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "c");
    // c ran alone, though slow: one hedge per request.
    assert_eq!(fake.calls(), ["a", "b", "c"]);
    assert_eq!(
        listed(&tried.earlier),
        [
            ("b".into(), Outcome::Error, false),
            ("a".into(), Outcome::Error, false)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_hedge_passes_over_open_breakers_and_reaches_fallback_models() {
    let models = table(
        "hedge_after_ms = 100\nfallbacks = [\"f\"]",
        "[[models]]\nname = \"f\"\ndeployments = [{ provider = \"p\", model = \"d\" }]",
    );
    let health = Health::new(1, Duration::from_secs(60));
    let m = models.get("m").unwrap();
    // b and c are cooling down.
    for d in &m.deployments[1..] {
        health.begin(d).end(Report::Failed { cooldown: None });
    }
    let policy = policy(10);
    let fake = Fake::new(&[("a", answers(1_000)), ("d", answers(10))]);
    let tried = run(&models, &policy, &health, &fake).await;
    assert_eq!(tried.result.unwrap(), "d");
    assert_eq!(fake.calls(), ["a", "d"]);
    assert_eq!(
        listed(&tried.earlier),
        [("a".into(), Outcome::Cancelled, true)]
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_deployment_is_retried_after_a_backoff() {
    // `m` fails over to `again`, served by the same deployment `c`.
    let models = table(
        "fallbacks = [\"again\"]",
        "[[models]]\nname = \"again\"\ndeployments = [{ provider = \"p\", model = \"c\" }]",
    );
    let health = health();
    let policy = RetryPolicy {
        max_attempts: 4,
        ..policy(10)
    };
    // a, b and c fail at once; `again`'s c answers.
    let fake = Fake::new(&[
        ("a", fails(0)),
        ("b", fails(0)),
        ("c", fails(0)),
        ("c", answers(0)),
    ]);
    let mut tried = std::pin::pin!(run(&models, &policy, &health, &fake));
    // The backoff before the fourth attempt is at least half of 1 s doubled
    // twice, capped at 2 s: nothing more is sent for a second.
    assert!(
        tokio::time::timeout(Duration::from_millis(900), &mut tried)
            .await
            .is_err()
    );
    assert_eq!(fake.calls(), ["a", "b", "c"]);
    let tried = tried.await;
    assert_eq!(tried.result.unwrap(), "c");
    assert_eq!(fake.calls(), ["a", "b", "c", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_backoff_max_skips_the_deployment() {
    let models = table(
        "fallbacks = [\"again\", \"other\"]",
        "[[models]]\nname = \"again\"\ndeployments = [{ provider = \"p\", model = \"c\" }]\n\
         [[models]]\nname = \"other\"\ndeployments = [{ provider = \"p\", model = \"d\" }]",
    );
    let health = health();
    // a and b fail; c asks for 5 s (more than the 2 s backoff max).
    let fake = Fake::new(&[
        ("a", fails(0)),
        ("b", fails(0)),
        (
            "c",
            Step {
                after: Duration::ZERO,
                fails: Some(
                    ApiError::new(ErrorCode::UpstreamUnavailable, "busy")
                        .with_retry_after(Duration::from_secs(5)),
                ),
            },
        ),
        ("d", answers(0)),
    ]);
    let policy = RetryPolicy {
        max_attempts: 4,
        ..policy(10)
    };
    // `again` (c once more) is skipped at once, not waited for.
    let tried = tokio::time::timeout(
        Duration::from_secs(1),
        run(&models, &policy, &health, &fake),
    )
    .await
    .unwrap();
    assert_eq!(tried.result.unwrap(), "d");
    assert_eq!(fake.calls(), ["a", "b", "c", "d"]);
}
