//! The model table: names clients ask for → deployments, and how one is picked.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use switchyard_config::{Config, ModelMode, Sticky, Strategy, TimeoutsConfig};
use switchyard_pricing::{Price, PriceTable};

use crate::health::Health;
use crate::pricing::ResolvedPrices;

/// One place a model is served.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// Provider instance name.
    pub provider: String,
    /// The provider's model name.
    pub upstream_model: String,
    /// Share under the weighted strategy.
    pub weight: u32,
    /// What it bills at (resolved at start-up).
    pub price: Price,
    /// The request tags it is for (empty: any request).
    pub tags: BTreeMap<String, String>,
    /// The most tokens it takes (prompt plus `max_tokens`), when configured.
    pub context_window: Option<u64>,
}

/// A model name clients ask for.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    /// The name.
    pub name: String,
    /// Shown in listings.
    pub owned_by: String,
    /// Where it is served.
    pub deployments: Vec<Deployment>,
    /// Models tried when every deployment failed retryably.
    pub fallbacks: Vec<String>,
    /// The model tried when a prompt exceeds this one's context window.
    pub context_fallback: Option<String>,
    /// The model tried when this one's provider refuses the content.
    pub content_filter_fallback: Option<String>,
    /// How long its requests may wait (each request may replace these).
    pub timeouts: TimeoutsConfig,
    /// Sticky assignment of the weighted pick, when configured.
    pub sticky: Option<Sticky>,
    /// When an attempt has not answered by then, a second one starts on the
    /// next deployment in line (`hedge_after_ms`; see `attempts.rs`).
    pub hedge_after: Option<std::time::Duration>,
    /// How long its answers are kept in the response cache (`cache_ttl_secs`);
    /// `None`: not cached.
    pub cache_ttl: Option<std::time::Duration>,
    /// The kind of call it serves; `None` serves both.
    pub mode: Option<ModelMode>,
    strategy: Strategy,
}

/// What about a request decides its route: its tags and who sent it.
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    /// The request's metadata (tags from `x-switchyard-tags` included).
    pub tags: &'a HashMap<String, String>,
    /// The caller's virtual key id.
    pub key: &'a str,
    /// The request's `user`, if any.
    pub user: &'a str,
    /// The tokens it needs of a context window (prompt plus `max_tokens`),
    /// counted only when some deployment declares a `context_window`.
    pub need: Option<u64>,
}

/// An owned [`RouteInput`], kept with a request for the fallback models it may
/// reach later.
#[derive(Debug, Clone, Default)]
pub struct RouteKey {
    /// The request's metadata (tags).
    pub tags: HashMap<String, String>,
    /// The caller's virtual key id.
    pub key: String,
    /// The request's `user`, or "".
    pub user: String,
    /// See [`RouteInput::need`].
    pub need: Option<u64>,
}

impl RouteKey {
    /// Borrowed, for planning.
    pub fn input(&self) -> RouteInput<'_> {
        RouteInput {
            tags: &self.tags,
            key: &self.key,
            user: &self.user,
            need: self.need,
        }
    }
}

impl RouteInput<'_> {
    /// Whether `d`'s context window is too small for this request.
    pub fn too_big_for(&self, d: &Deployment) -> bool {
        matches!((self.need, d.context_window), (Some(need), Some(window)) if need > window)
    }

    /// A request with no tags from no one (tests, listings).
    pub fn none() -> RouteInput<'static> {
        static EMPTY: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();
        RouteInput {
            tags: EMPTY.get_or_init(HashMap::new),
            key: "",
            user: "",
            need: None,
        }
    }
}

/// A stable 64-bit hash (FNV-1a), so a sticky assignment survives restarts and
/// agrees across routers.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

impl ModelEntry {
    /// Refuses a `mode` call to a model configured for the other kind, before
    /// anything is reserved or sent: the upstream would refuse it anyway, or
    /// worse, answer it at the other kind's price.
    pub fn serves(&self, mode: ModelMode) -> Result<(), switchyard_error::ApiError> {
        match self.mode {
            Some(own) if own != mode => Err(switchyard_error::ApiError::invalid(
                "model",
                format!(
                    "The model `{}` serves {} requests only, not {} requests.",
                    self.name,
                    own.as_str(),
                    mode.as_str()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The strategy, as config names it.
    pub fn strategy_name(&self) -> &'static str {
        match self.strategy {
            Strategy::Weighted => "weighted",
            Strategy::Ordered => "ordered",
            Strategy::LeastLatency => "least-latency",
            Strategy::LeastBusy => "least-busy",
            Strategy::LowestCost => "lowest-cost",
        }
    }

    /// The order in which one request tries the deployments. Deployments whose
    /// `tags` the request carries come first, then untagged ones; tagged
    /// deployments the request does not match are left out. Within each group, the
    /// strategy orders: its pick first, then the others (config order under
    /// `ordered`; the weighted pick repeated over those left under `weighted`,
    /// sticky when configured; by in-flight requests, latency or price under the
    /// others, from what `health` knows).
    pub fn plan(&self, health: &Health, input: RouteInput<'_>) -> Vec<&Deployment> {
        let matches = |d: &&Deployment| {
            !d.tags.is_empty()
                && d.tags
                    .iter()
                    .all(|(k, v)| input.tags.get(k).is_some_and(|have| have == v))
        };
        let tagged: Vec<&Deployment> = self.deployments.iter().filter(matches).collect();
        let untagged: Vec<&Deployment> = self
            .deployments
            .iter()
            .filter(|d| d.tags.is_empty())
            .collect();
        let sticky = self.sticky.map(|sticky| {
            let who = match sticky {
                Sticky::User if !input.user.is_empty() => input.user,
                _ => input.key,
            };
            stable_hash(&[&self.name, who])
        });
        let mut plan = self.order(tagged, health, sticky);
        plan.extend(self.order(untagged, health, sticky));
        plan
    }

    fn order<'a>(
        &self,
        mut group: Vec<&'a Deployment>,
        health: &Health,
        sticky: Option<u64>,
    ) -> Vec<&'a Deployment> {
        if group.len() < 2 {
            return group;
        }
        match self.strategy {
            Strategy::Ordered => group,
            Strategy::Weighted => {
                let mut plan = Vec::with_capacity(group.len());
                // The sticky ticket decides the first pick; the order after it
                // only matters when the first fails.
                let mut ticket = sticky;
                while !group.is_empty() {
                    let total: u64 = group.iter().map(|d| u64::from(d.weight)).sum();
                    let i = if total == 0 {
                        0
                    } else {
                        let mut t = match ticket.take() {
                            Some(hash) => hash % total,
                            None => rand::rng().random_range(0..total),
                        };
                        group
                            .iter()
                            .position(|d| {
                                let w = u64::from(d.weight);
                                if t < w {
                                    true
                                } else {
                                    t -= w;
                                    false
                                }
                            })
                            .unwrap_or(0)
                    };
                    plan.push(group.remove(i));
                }
                plan
            }
            Strategy::LeastBusy => {
                group.sort_by_key(|d| health.in_flight(d));
                group
            }
            Strategy::LeastLatency => {
                let latency = |d: &Deployment| health.latency_us(d).unwrap_or(0.0);
                group.sort_by(|a, b| latency(a).total_cmp(&latency(b)));
                // Power of two choices: the faster of two random deployments goes
                // first, so one fast deployment does not take every request.
                if group.len() > 2 {
                    let mut rng = rand::rng();
                    let a = rng.random_range(0..group.len());
                    let b = rng.random_range(0..group.len());
                    let first = if latency(group[a]) <= latency(group[b]) {
                        a
                    } else {
                        b
                    };
                    let chosen = group.remove(first);
                    group.insert(0, chosen);
                }
                group
            }
            Strategy::LowestCost => {
                let typical = switchyard_proto::types::v1::Usage {
                    prompt_tokens: 1_000,
                    completion_tokens: 250,
                    ..Default::default()
                };
                group.sort_by_key(|d| switchyard_pricing::cost_micros(&d.price, &typical));
                group
            }
        }
    }
}

/// Every configured model, by name, in config order for listings.
#[derive(Debug, Clone)]
pub struct ModelTable {
    by_name: HashMap<String, usize>,
    entries: Vec<ModelEntry>,
    /// Wildcard entries (`openai/*`), longest prefix first.
    wildcards: Vec<usize>,
    /// Per entry and deployment, the vendor pricing what a wildcard passes
    /// through (see `ResolvedPrices::passthrough`).
    passthrough: Vec<Vec<Option<String>>>,
    prices: PriceTable,
    context_windows: bool,
    /// When this table was built (listed as `created`).
    pub created: i64,
    /// The price table's version, recorded with each usage record.
    pub price_version: String,
}

impl ModelTable {
    /// Builds the table from validated config (validation guarantees at least one
    /// deployment and a positive total weight per model) and resolved prices.
    pub fn from_config(config: &Config, prices: &ResolvedPrices) -> Self {
        let entries: Vec<ModelEntry> = config
            .models
            .iter()
            .enumerate()
            .map(|(i, m)| ModelEntry {
                name: m.name.clone(),
                owned_by: m.owned_by.clone(),
                fallbacks: m.fallbacks.clone(),
                context_fallback: m.context_fallback.clone(),
                content_filter_fallback: m.content_filter_fallback.clone(),
                timeouts: m.timeouts,
                sticky: m.sticky,
                hedge_after: m.hedge_after_ms.map(std::time::Duration::from_millis),
                cache_ttl: m.cache_ttl_secs.map(std::time::Duration::from_secs),
                mode: m.mode,
                strategy: m.strategy,
                deployments: m
                    .deployments
                    .iter()
                    .enumerate()
                    .map(|(j, d)| Deployment {
                        provider: d.provider.clone(),
                        upstream_model: d.model.clone(),
                        weight: d.weight,
                        price: prices.prices[i][j],
                        tags: d.tags.clone(),
                        context_window: d.context_window,
                    })
                    .collect(),
            })
            .collect();
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let mut wildcards: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name.ends_with('*'))
            .map(|(i, _)| i)
            .collect();
        wildcards.sort_by_key(|&i| std::cmp::Reverse(entries[i].name.len()));
        let context_windows = entries
            .iter()
            .flat_map(|e| &e.deployments)
            .any(|d| d.context_window.is_some());
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        Self {
            by_name,
            entries,
            created,
            price_version: prices.version.clone(),
            wildcards,
            passthrough: prices.passthrough.clone(),
            prices: prices.table.clone(),
            context_windows,
        }
    }

    /// The entry for a name: the entry of that exact name, else the wildcard with
    /// the longest matching prefix, its deployments naming the model the `*`
    /// matched and priced by it. `None` also when the table prices none of the
    /// models a wildcard passes the name through to (never billed at zero).
    pub fn get(&self, name: &str) -> Option<Cow<'_, ModelEntry>> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(Cow::Borrowed(&self.entries[i]));
        }
        let (i, rest) = self.wildcard(name)?;
        let pattern = &self.entries[i];
        let deployments: Vec<Deployment> = pattern
            .deployments
            .iter()
            .zip(&self.passthrough[i])
            .filter_map(|(d, vendor)| {
                let upstream_model = d.upstream_model.replace('*', rest);
                let price = match vendor {
                    Some(vendor) => self.prices.lookup(vendor, &upstream_model)?,
                    None => d.price,
                };
                Some(Deployment {
                    upstream_model,
                    price,
                    ..d.clone()
                })
            })
            .collect();
        if deployments.is_empty() {
            return None;
        }
        Some(Cow::Owned(ModelEntry {
            name: name.to_string(),
            deployments,
            ..pattern.clone()
        }))
    }

    /// Whether any deployment declares a `context_window` (only then are
    /// prompts counted against one).
    pub fn has_context_windows(&self) -> bool {
        self.context_windows
    }

    /// The wildcard entry serving `name` and the part its `*` matches.
    fn wildcard<'n>(&self, name: &'n str) -> Option<(usize, &'n str)> {
        self.wildcards.iter().find_map(|&i| {
            let prefix = self.entries[i].name.strip_suffix('*')?;
            name.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(|rest| (i, rest))
        })
    }

    /// The wildcard `name` matches though no price is known for what it passes
    /// through, for the error that says so.
    pub fn unpriced_wildcard(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(_) => None,
            None => self
                .wildcard(name)
                .map(|(i, _)| self.entries[i].name.as_str()),
        }
    }

    /// Every entry, in config order (wildcards included, as configured).
    pub fn iter(&self) -> impl Iterator<Item = &ModelEntry> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_respects_weights() {
        let config = switchyard_config::load_str(
            r#"
version = 1
[[providers]]
name = "a"
kind = "mock"
[[providers]]
name = "b"
kind = "mock"
[[models]]
name = "m"
deployments = [{ provider = "a", model = "x", weight = 3 }, { provider = "b", model = "y", weight = 0 }]
[[models]]
name = "o"
strategy = "ordered"
deployments = [{ provider = "b", model = "y" }, { provider = "a", model = "x" }]
"#,
        )
        .unwrap();
        let prices = crate::pricing::resolve(&config).unwrap();
        let table = ModelTable::from_config(&config, &prices);
        let m = table.get("m").unwrap();
        let h = Health::new(1, std::time::Duration::ZERO);
        for _ in 0..200 {
            assert_eq!(m.plan(&h, RouteInput::none())[0].provider, "a");
        }
        assert_eq!(
            table.get("o").unwrap().plan(&h, RouteInput::none())[0].provider,
            "b"
        );
        let o = table.get("o").unwrap();
        let plan: Vec<&str> = o
            .plan(
                &Health::new(1, std::time::Duration::ZERO),
                RouteInput::none(),
            )
            .iter()
            .map(|d| d.provider.as_str())
            .collect();
        assert_eq!(plan, ["b", "a"]);
        // Weighted: the zero-weight deployment still comes, last.
        let plan: Vec<&str> = m
            .plan(
                &Health::new(1, std::time::Duration::ZERO),
                RouteInput::none(),
            )
            .iter()
            .map(|d| d.provider.as_str())
            .collect();
        assert_eq!(plan, ["a", "b"]);
        assert!(table.get("nope").is_none());

        // The other strategies order by what the router knows.
        let config = switchyard_config::load_str(
            r#"
version = 1
[[providers]]
name = "a"
kind = "mock"
[[models]]
name = "busy"
strategy = "least-busy"
deployments = [{ provider = "a", model = "x" }, { provider = "a", model = "y" }]
[[models]]
name = "cheap"
strategy = "lowest-cost"
deployments = [{ provider = "a", model = "dear", price = { input_per_million = "3", output_per_million = "15" } }, { provider = "a", model = "cheap", price = { input_per_million = "0.1", output_per_million = "0.4" } }]
"#,
        )
        .unwrap();
        let prices = crate::pricing::resolve(&config).unwrap();
        let table = ModelTable::from_config(&config, &prices);
        let health = Health::new(1, std::time::Duration::ZERO);
        let busy = table.get("busy").unwrap();
        let _running = health.begin(&busy.deployments[0]);
        let order: Vec<&str> = busy
            .plan(&health, RouteInput::none())
            .iter()
            .map(|d| d.upstream_model.as_str())
            .collect();
        assert_eq!(order, ["y", "x"]);
        let cheap = table.get("cheap").unwrap();
        let order: Vec<&str> = cheap
            .plan(&health, RouteInput::none())
            .iter()
            .map(|d| d.upstream_model.as_str())
            .collect();
        assert_eq!(order, ["cheap", "dear"]);
        assert_eq!(table.iter().count(), 2);
    }

    #[test]
    fn wildcards_pass_the_name_through_and_price_it() {
        let config = switchyard_config::load_str(
            r#"
version = 1
[[providers]]
name = "openai"
kind = "openai"
api_key_env = "CARGO_PKG_NAME"
[[providers]]
name = "local"
kind = "mock"
[[models]]
name = "openai/*"
deployments = [{ provider = "openai", model = "*" }]
[[models]]
name = "openai/gpt-4o-mini"
deployments = [{ provider = "local", model = "pinned" }]
[[models]]
name = "*"
deployments = [{ provider = "local", model = "local-*", price = { input_per_million = "1", output_per_million = "2" } }]
"#,
        )
        .unwrap();
        let prices = crate::pricing::resolve(&config).unwrap();
        let table = ModelTable::from_config(&config, &prices);
        let gpt = table.get("openai/gpt-4o").unwrap();
        assert_eq!(gpt.name, "openai/gpt-4o");
        assert_eq!(gpt.deployments[0].upstream_model, "gpt-4o");
        // Priced by the shipped table, not at zero.
        assert!(gpt.deployments[0].price.input > 0);
        // An exact name wins over a wildcard.
        assert_eq!(
            table.get("openai/gpt-4o-mini").unwrap().deployments[0].upstream_model,
            "pinned"
        );
        // The longest prefix wins; a deployment's own price applies as is.
        let other = table.get("llama").unwrap();
        assert_eq!(other.deployments[0].upstream_model, "local-llama");
        assert_eq!(other.deployments[0].price.input, 1_000_000);
        // No price known: not routed, and the error can say why.
        assert!(table.get("openai/no-such-model").is_none());
        assert_eq!(
            table.unpriced_wildcard("openai/no-such-model"),
            Some("openai/*")
        );
        assert_eq!(table.unpriced_wildcard("openai/gpt-4o"), None);
        // The bare prefix is no name under `openai/*`: the catch-all takes it.
        assert_eq!(
            table.get("openai/").unwrap().deployments[0].upstream_model,
            "local-openai/"
        );
    }
}
