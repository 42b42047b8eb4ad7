//! Cost of a request in integer micro-dollars — computed here and nowhere else.
//!
//! Rounding rule: every component is multiplied exactly (tokens × micro-dollars per
//! million tokens, in 128-bit integers), the parts are summed, and the sum is divided
//! by one million once, rounding half up. So a request never costs more than half a
//! micro-dollar away from the exact figure, and totals never depend on the order of
//! parts. Cached prompt tokens are a subset of prompt tokens: they are billed at the
//! cached price (when one is set) and the rest at the input price — never both.

use switchyard_config::{Config, PriceConfig};
use switchyard_proto::types::v1::Usage;

/// Micro-dollar cost of `usage` at `price`.
pub fn cost_micros(price: &PriceConfig, usage: &Usage) -> i64 {
    let cached = usage.cached_prompt_tokens.min(usage.prompt_tokens);
    let uncached = usage.prompt_tokens - cached;
    let cached_price = price
        .cached_input_per_million
        .unwrap_or(price.input_per_million);
    let scaled: u128 = u128::from(uncached) * u128::from(price.input_per_million.0)
        + u128::from(cached) * u128::from(cached_price.0)
        + u128::from(usage.completion_tokens) * u128::from(price.output_per_million.0);
    let micros = (scaled + 500_000) / 1_000_000;
    i64::try_from(micros).unwrap_or(i64::MAX)
}

/// A short, stable identifier of every price in the config, recorded with each
/// usage record so a cost can always be traced to the prices that produced it.
pub fn price_version(config: &Config) -> String {
    // FNV-1a over a canonical rendering: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for model in &config.models {
        for d in &model.deployments {
            let p = d.price;
            let line = format!(
                "{}|{}|{}|{}|{}|{:?}\n",
                model.name,
                d.provider,
                d.model,
                p.input_per_million.0,
                p.output_per_million.0,
                p.cached_input_per_million.map(|c| c.0)
            );
            feed(line.as_bytes());
        }
    }
    format!("cfg-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use switchyard_config::MicrosPerMillion;

    use super::*;

    fn price(input: u64, output: u64, cached: Option<u64>) -> PriceConfig {
        PriceConfig {
            input_per_million: MicrosPerMillion(input),
            output_per_million: MicrosPerMillion(output),
            cached_input_per_million: cached.map(MicrosPerMillion),
        }
    }

    fn usage(prompt: u64, completion: u64, cached: u64) -> Usage {
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            cached_prompt_tokens: cached,
            ..Default::default()
        }
    }

    #[test]
    fn exact_costs() {
        // gpt-4o-mini style: $0.15 in, $0.60 out per million.
        let p = price(150_000, 600_000, Some(75_000));
        assert_eq!(cost_micros(&p, &usage(1_000_000, 0, 0)), 150_000);
        assert_eq!(cost_micros(&p, &usage(0, 1_000_000, 0)), 600_000);
        // 10 prompt + 20 completion = 1.5 + 12 = 13.5 -> 14 (half up).
        assert_eq!(cost_micros(&p, &usage(10, 20, 0)), 14);
        // Cached tokens at the cached price, not on top of input.
        assert_eq!(cost_micros(&p, &usage(1_000_000, 0, 1_000_000)), 75_000);
        assert_eq!(
            cost_micros(&p, &usage(1_000_000, 0, 400_000)),
            90_000 + 30_000
        );
        // Free deployments cost nothing.
        assert_eq!(cost_micros(&PriceConfig::default(), &usage(5, 5, 0)), 0);
    }

    #[test]
    fn no_overflow_on_huge_counts() {
        let p = price(u64::MAX / 2, u64::MAX / 2, None);
        assert_eq!(
            cost_micros(&p, &usage(u64::MAX / 2, u64::MAX / 2, 0)),
            i64::MAX
        );
        let p = price(60_000_000, 60_000_000, None);
        assert_eq!(
            cost_micros(&p, &usage(u32::MAX.into(), 0, 0)),
            257_698_037_700
        );
    }

    #[test]
    fn total_of_parts_is_within_rounding_of_parts_total() {
        // Pseudo-random sweep: the sum of separately rounded costs differs from the
        // cost of the summed usage by at most half a micro-dollar per request.
        let p = price(150_000, 600_000, Some(75_000));
        let mut seed: u64 = 42;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 44
        };
        let (mut sum_parts, mut total) = (0i128, usage(0, 0, 0));
        let n = 500u64;
        for _ in 0..n {
            let (pr, co) = (next(), next());
            let ca = next() % (pr + 1);
            sum_parts += i128::from(cost_micros(&p, &usage(pr, co, ca)));
            total.prompt_tokens += pr;
            total.completion_tokens += co;
            total.cached_prompt_tokens += ca;
        }
        let diff = (sum_parts - i128::from(cost_micros(&p, &total))).abs();
        assert!(diff <= i128::from(n / 2 + 1), "diff {diff}");
    }
}
