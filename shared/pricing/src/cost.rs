//! [`Price`] and [`cost_micros`], the one cost function.

use switchyard_config::{PriceConfig, PriceOverride};
use switchyard_proto::types::v1::Usage;

/// What one million tokens of each class cost, in micro-dollars (`0.15` dollars per
/// million tokens is `150_000`). Integers so that costs are exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Price {
    /// Uncached prompt tokens.
    pub input: u64,
    /// Completion tokens, reasoning included.
    pub output: u64,
    /// Prompt tokens read from the provider's cache; `None` bills them as input.
    pub cached_input: Option<u64>,
    /// Prompt tokens written to the provider's cache; `None` bills them as input.
    pub cache_write: Option<u64>,
}

impl Price {
    /// Free: self-hosted and mock deployments.
    pub const ZERO: Price = Price {
        input: 0,
        output: 0,
        cached_input: None,
        cache_write: None,
    };
}

impl From<&PriceConfig> for Price {
    fn from(p: &PriceConfig) -> Self {
        Self {
            input: p.input_per_million.0,
            output: p.output_per_million.0,
            cached_input: p.cached_input_per_million.map(|m| m.0),
            cache_write: p.cache_write_per_million.map(|m| m.0),
        }
    }
}

impl From<&PriceOverride> for Price {
    fn from(p: &PriceOverride) -> Self {
        Self {
            input: p.input_per_million.0,
            output: p.output_per_million.0,
            cached_input: p.cached_input_per_million.map(|m| m.0),
            cache_write: p.cache_write_per_million.map(|m| m.0),
        }
    }
}

/// Micro-dollar cost of `usage` at `price`: the only place a cost is computed.
///
/// `usage` follows the normalized convention of the crate docs. Cache reads bill at
/// `cached_input` and cache writes at `cache_write` *instead of* the input price,
/// never on top of it; reasoning tokens are part of `completion_tokens` and billed
/// once, at the output price. Out-of-range subsets are clamped (cache reads to the
/// prompt, cache writes to the prompt left after cache reads). The sum of exact
/// products is divided by one million once, rounding half up; the arithmetic
/// saturates, so the result is never negative and this never panics.
pub fn cost_micros(price: &Price, usage: &Usage) -> i64 {
    let prompt = usage.prompt_tokens;
    let cached = usage.cached_prompt_tokens.min(prompt);
    let cache_write = usage.cache_write_prompt_tokens.min(prompt - cached);
    let uncached = prompt - cached - cache_write;
    let scaled = [
        (uncached, price.input),
        (cached, price.cached_input.unwrap_or(price.input)),
        (cache_write, price.cache_write.unwrap_or(price.input)),
        (usage.completion_tokens, price.output),
    ]
    .into_iter()
    .fold(0u128, |sum, (tokens, per_million)| {
        sum.saturating_add(u128::from(tokens) * u128::from(per_million))
    });
    let micros = scaled.saturating_add(500_000) / 1_000_000;
    i64::try_from(micros).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
