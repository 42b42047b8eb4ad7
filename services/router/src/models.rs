//! The model table: names clients ask for → deployments, and how one is picked.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use switchyard_config::{Config, Strategy, TimeoutsConfig};
use switchyard_pricing::Price;

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
    strategy: Strategy,
    total_weight: u64,
}

impl ModelEntry {
    /// The order in which one request tries the deployments: the strategy's pick
    /// first, then the others (config order under `ordered`; the weighted pick
    /// repeated over those left under `weighted`; by in-flight requests, latency
    /// or price under the others, from what `health` knows).
    pub fn plan(&self, health: &Health) -> Vec<&Deployment> {
        match self.strategy {
            Strategy::Weighted | Strategy::Ordered => self.weighted_or_ordered(),
            Strategy::LeastBusy => {
                let mut plan: Vec<&Deployment> = self.deployments.iter().collect();
                plan.sort_by_key(|d| health.in_flight(d));
                plan
            }
            Strategy::LeastLatency => {
                let latency = |d: &Deployment| health.latency_us(d).unwrap_or(0.0);
                let mut plan: Vec<&Deployment> = self.deployments.iter().collect();
                plan.sort_by(|a, b| latency(a).total_cmp(&latency(b)));
                // Power of two choices: the faster of two random deployments goes
                // first, so one fast deployment does not take every request.
                if plan.len() > 2 {
                    let mut rng = rand::rng();
                    let a = rng.random_range(0..plan.len());
                    let b = rng.random_range(0..plan.len());
                    let first = if latency(plan[a]) <= latency(plan[b]) {
                        a
                    } else {
                        b
                    };
                    let chosen = plan.remove(first);
                    plan.insert(0, chosen);
                }
                plan
            }
            Strategy::LowestCost => {
                let typical = switchyard_proto::types::v1::Usage {
                    prompt_tokens: 1_000,
                    completion_tokens: 250,
                    ..Default::default()
                };
                let mut plan: Vec<&Deployment> = self.deployments.iter().collect();
                plan.sort_by_key(|d| switchyard_pricing::cost_micros(&d.price, &typical));
                plan
            }
        }
    }

    fn weighted_or_ordered(&self) -> Vec<&Deployment> {
        let first = self.pick();
        let mut plan = vec![first];
        let mut rest: Vec<&Deployment> = self
            .deployments
            .iter()
            .filter(|d| !std::ptr::eq(*d, first))
            .collect();
        if self.strategy == Strategy::Weighted {
            while !rest.is_empty() {
                let total: u64 = rest.iter().map(|d| u64::from(d.weight)).sum();
                let i = if total == 0 {
                    0
                } else {
                    let mut ticket = rand::rng().random_range(0..total);
                    rest.iter()
                        .position(|d| {
                            let w = u64::from(d.weight);
                            if ticket < w {
                                true
                            } else {
                                ticket -= w;
                                false
                            }
                        })
                        .unwrap_or(0)
                };
                plan.push(rest.remove(i));
            }
        } else {
            plan.extend(rest);
        }
        plan
    }

    /// Picks the deployment for one request.
    pub fn pick(&self) -> &Deployment {
        let first = &self.deployments[0];
        match self.strategy {
            Strategy::Ordered
            | Strategy::LeastBusy
            | Strategy::LeastLatency
            | Strategy::LowestCost => first,
            Strategy::Weighted => {
                if self.deployments.len() == 1 {
                    return first;
                }
                let mut ticket = rand::rng().random_range(0..self.total_weight);
                for d in &self.deployments {
                    let w = u64::from(d.weight);
                    if ticket < w {
                        return d;
                    }
                    ticket -= w;
                }
                first
            }
        }
    }
}

/// Every configured model, by name, in config order for listings.
#[derive(Debug, Clone)]
pub struct ModelTable {
    by_name: HashMap<String, usize>,
    entries: Vec<ModelEntry>,
    /// When this table was built (listed as `created`).
    pub created: i64,
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
                strategy: m.strategy,
                total_weight: m.deployments.iter().map(|d| u64::from(d.weight)).sum(),
                deployments: m
                    .deployments
                    .iter()
                    .enumerate()
                    .map(|(j, d)| Deployment {
                        provider: d.provider.clone(),
                        upstream_model: d.model.clone(),
                        weight: d.weight,
                        price: prices.prices[i][j],
                    })
                    .collect(),
            })
            .collect();
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
            .unwrap_or(0);
        Self {
            by_name,
            entries,
            created,
        }
    }

    /// The entry for a name.
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Every entry, in config order.
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
        for _ in 0..200 {
            assert_eq!(m.pick().provider, "a");
        }
        assert_eq!(table.get("o").unwrap().pick().provider, "b");
        let plan: Vec<&str> = table
            .get("o")
            .unwrap()
            .plan(&Health::new(1, std::time::Duration::ZERO))
            .iter()
            .map(|d| d.provider.as_str())
            .collect();
        assert_eq!(plan, ["b", "a"]);
        // Weighted: the zero-weight deployment still comes, last.
        let plan: Vec<&str> = m
            .plan(&Health::new(1, std::time::Duration::ZERO))
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
            .plan(&health)
            .iter()
            .map(|d| d.upstream_model.as_str())
            .collect();
        assert_eq!(order, ["y", "x"]);
        let order: Vec<&str> = table
            .get("cheap")
            .unwrap()
            .plan(&health)
            .iter()
            .map(|d| d.upstream_model.as_str())
            .collect();
        assert_eq!(order, ["cheap", "dear"]);
        assert_eq!(table.iter().count(), 2);
    }
}
