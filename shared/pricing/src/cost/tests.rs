//! Unit and property tests of the one cost function.

use proptest::prelude::*;
use switchyard_config::{MicrosPerMillion, PriceConfig};

use super::*;

fn price(input: u64, output: u64, cached: Option<u64>) -> Price {
    Price {
        input,
        output,
        cached_input: cached,
        cache_write: None,
    }
}

fn usage(prompt: u64, completion: u64, cached: u64) -> Usage {
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        cached_prompt_tokens: cached,
        ..Default::default()
    }
}

// --- Moved from services/router/src/pricing.rs (same cases, same figures). ---

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
    assert_eq!(cost_micros(&Price::default(), &usage(5, 5, 0)), 0);
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

// --- Vendor conventions. ---

#[test]
fn openai_cached_tokens_bill_at_cached_price_not_on_top() {
    // gpt-4o-mini; OpenAI's prompt_tokens already include cached_tokens.
    let p = price(150_000, 600_000, Some(75_000));
    let u = Usage {
        prompt_tokens: 1_000,
        cached_prompt_tokens: 400,
        completion_tokens: 200,
        reasoning_tokens: 50,
        ..Default::default()
    };
    // 600 × 0.15 + 400 × 0.075 + 200 × 0.60 = 90 + 30 + 120 µ$.
    assert_eq!(cost_micros(&p, &u), 240);
    // Without a cached price, cached tokens are plain input.
    assert_eq!(cost_micros(&price(150_000, 600_000, None), &u), 150 + 120);
}

#[test]
fn anthropic_cache_writes_bill_at_write_price() {
    // claude-sonnet-4-5: $3 in, $3.75 cache write (1.25×), $0.30 read, $15 out.
    let p = Price {
        input: 3_000_000,
        output: 15_000_000,
        cached_input: Some(300_000),
        cache_write: Some(3_750_000),
    };
    // Anthropic wire: input_tokens 100, cache_creation 1000, cache_read 2000.
    let u = Usage {
        prompt_tokens: 100 + 1_000 + 2_000,
        cache_write_prompt_tokens: 1_000,
        cached_prompt_tokens: 2_000,
        completion_tokens: 500,
        ..Default::default()
    };
    // 100 × 3 + 1000 × 3.75 + 2000 × 0.30 + 500 × 15 = 300 + 3750 + 600 + 7500.
    assert_eq!(cost_micros(&p, &u), 12_150);
    // The same prompt written to the cache costs 1.25× the uncached prompt.
    let write_only = Usage {
        prompt_tokens: 1_000_000,
        cache_write_prompt_tokens: 1_000_000,
        ..Default::default()
    };
    assert_eq!(cost_micros(&p, &write_only), 3_750_000);
    // Without a write price, writes are plain input.
    let p = Price {
        cache_write: None,
        ..p
    };
    assert_eq!(cost_micros(&p, &write_only), 3_000_000);
}

#[test]
fn reasoning_is_billed_once_as_output() {
    // o4-mini: reasoning tokens are inside completion_tokens.
    let p = price(1_100_000, 4_400_000, Some(275_000));
    let plain = usage(1_000, 2_000, 0);
    let reasoning = Usage {
        reasoning_tokens: 1_500,
        ..plain
    };
    assert_eq!(cost_micros(&p, &plain), cost_micros(&p, &reasoning));
    // 1000 × 1.10 + 2000 × 4.40 = 1100 + 8800 µ$.
    assert_eq!(cost_micros(&p, &reasoning), 9_900);
}

#[test]
fn deepseek_cache_hits_bill_at_hit_price() {
    // deepseek-flash (peak): miss $0.30, hit $0.006, out $1.20.
    let p = price(300_000, 1_200_000, Some(6_000));
    // 1M miss + 1M hit + 1M out = 0.30 + 0.006 + 1.20 dollars.
    assert_eq!(
        cost_micros(&p, &usage(2_000_000, 1_000_000, 1_000_000)),
        1_506_000
    );
}

#[test]
fn out_of_range_subsets_are_clamped() {
    let p = Price {
        input: 3_000_000,
        output: 15_000_000,
        cached_input: Some(300_000),
        cache_write: Some(3_750_000),
    };
    // More cache reads than prompt: the whole prompt is a cache read.
    assert_eq!(
        cost_micros(&p, &usage(1_000, 0, 5_000)),
        cost_micros(&p, &usage(1_000, 0, 1_000))
    );
    // Cache writes beyond what reads left: only the remainder is a write.
    let over = Usage {
        prompt_tokens: 1_000,
        cached_prompt_tokens: 600,
        cache_write_prompt_tokens: 900,
        ..Default::default()
    };
    let clamped = Usage {
        cache_write_prompt_tokens: 400,
        ..over
    };
    assert_eq!(cost_micros(&p, &over), cost_micros(&p, &clamped));
    // 600 × 0.30 + 400 × 3.75 = 180 + 1500.
    assert_eq!(cost_micros(&p, &over), 1_680);
}

#[test]
fn price_from_config() {
    let config = PriceConfig {
        input_per_million: MicrosPerMillion(3_000_000),
        output_per_million: MicrosPerMillion(15_000_000),
        cached_input_per_million: Some(MicrosPerMillion(300_000)),
        cache_write_per_million: Some(MicrosPerMillion(3_750_000)),
    };
    assert_eq!(
        Price::from(&config),
        Price {
            input: 3_000_000,
            output: 15_000_000,
            cached_input: Some(300_000),
            cache_write: Some(3_750_000),
        }
    );
    assert_eq!(Price::from(&PriceConfig::default()), Price::ZERO);
}

// --- Properties. ---

fn any_price() -> impl Strategy<Value = Price> {
    (
        any::<u64>(),
        any::<u64>(),
        proptest::option::of(any::<u64>()),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(input, output, cached_input, cache_write)| Price {
            input,
            output,
            cached_input,
            cache_write,
        })
}

fn any_usage() -> impl Strategy<Value = Usage> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(|(prompt, completion, cached, write, reasoning)| Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_prompt_tokens: cached,
            cache_write_prompt_tokens: write,
            reasoning_tokens: reasoning,
            ..Default::default()
        })
}

/// Prices (up to ~$68,000 per million tokens) and counts (up to 2^32 per request)
/// small enough that even the total of 64 requests fits in an `i64` of
/// micro-dollars (2^36 × 2^32 × 4 classes × 64 < 2^76, / 10^6 < 2^63), so rounding
/// is the only error.
fn bounded_price() -> impl Strategy<Value = Price> {
    let p = 0..(1u64 << 36);
    (
        p.clone(),
        p.clone(),
        proptest::option::of(p.clone()),
        proptest::option::of(p),
    )
        .prop_map(|(input, output, cached_input, cache_write)| Price {
            input,
            output,
            cached_input,
            cache_write,
        })
}

/// A usage that already follows the convention (subsets within the prompt).
fn consistent_usage() -> impl Strategy<Value = Usage> {
    (0..(1u64 << 32), 0..(1u64 << 32), any::<u64>(), any::<u64>()).prop_map(
        |(prompt, completion, cached_seed, write_seed)| {
            let cached = cached_seed % (prompt + 1);
            let write = write_seed % (prompt - cached + 1);
            Usage {
                prompt_tokens: prompt,
                completion_tokens: completion,
                cached_prompt_tokens: cached,
                cache_write_prompt_tokens: write,
                ..Default::default()
            }
        },
    )
}

proptest! {
    #[test]
    fn never_panics_never_negative(p in any_price(), u in any_usage()) {
        prop_assert!(cost_micros(&p, &u) >= 0);
    }

    #[test]
    fn monotonic_in_prompt_and_completion(
        p in any_price(),
        u in any_usage(),
        extra in any::<u64>(),
    ) {
        let base = cost_micros(&p, &u);
        let more_prompt = Usage { prompt_tokens: u.prompt_tokens.saturating_add(extra), ..u };
        prop_assert!(cost_micros(&p, &more_prompt) >= base);
        let more_completion =
            Usage { completion_tokens: u.completion_tokens.saturating_add(extra), ..u };
        prop_assert!(cost_micros(&p, &more_completion) >= base);
        // Reasoning is inside completion: it never changes the cost.
        let more_reasoning =
            Usage { reasoning_tokens: u.reasoning_tokens.saturating_add(extra), ..u };
        prop_assert_eq!(cost_micros(&p, &more_reasoning), base);
    }

    #[test]
    fn monotonic_in_cache_counts_toward_their_price(
        p in any_price(),
        u in any_usage(),
        extra in any::<u64>(),
    ) {
        // Moving prompt tokens into the cache-read class moves the cost toward the
        // cached price: down when it is below the input price, up when above.
        let base = cost_micros(&p, &u);
        let more_cached =
            Usage { cached_prompt_tokens: u.cached_prompt_tokens.saturating_add(extra), ..u };
        let cached_price = p.cached_input.unwrap_or(p.input);
        let write_price = p.cache_write.unwrap_or(p.input);
        if cached_price <= p.input && cached_price <= write_price {
            prop_assert!(cost_micros(&p, &more_cached) <= base);
        }
        if cached_price >= p.input && cached_price >= write_price {
            prop_assert!(cost_micros(&p, &more_cached) >= base);
        }
        let more_write = Usage {
            cache_write_prompt_tokens: u.cache_write_prompt_tokens.saturating_add(extra),
            ..u
        };
        if write_price >= p.input {
            prop_assert!(cost_micros(&p, &more_write) >= base);
        } else {
            prop_assert!(cost_micros(&p, &more_write) <= base);
        }
    }

    #[test]
    fn sum_of_parts_within_half_a_micro_per_part(
        p in bounded_price(),
        parts in proptest::collection::vec(consistent_usage(), 1..64),
    ) {
        let mut total = Usage::default();
        let mut sum_of_costs = 0i128;
        for u in &parts {
            sum_of_costs += i128::from(cost_micros(&p, u));
            total.prompt_tokens += u.prompt_tokens;
            total.completion_tokens += u.completion_tokens;
            total.cached_prompt_tokens += u.cached_prompt_tokens;
            total.cache_write_prompt_tokens += u.cache_write_prompt_tokens;
        }
        let diff = (sum_of_costs - i128::from(cost_micros(&p, &total))).abs();
        // Each part rounds by at most half a micro-dollar, the total once more;
        // the integer difference is therefore at most n / 2.
        let n = i128::try_from(parts.len()).unwrap_or(i128::MAX);
        prop_assert!(2 * diff <= n, "diff {} over {} parts", diff, n);
    }

    #[test]
    fn clamping_matches_the_clamped_usage(p in any_price(), u in any_usage()) {
        let cached = u.cached_prompt_tokens.min(u.prompt_tokens);
        let clamped = Usage {
            cached_prompt_tokens: cached,
            cache_write_prompt_tokens: u
                .cache_write_prompt_tokens
                .min(u.prompt_tokens - cached),
            ..u
        };
        prop_assert_eq!(cost_micros(&p, &u), cost_micros(&p, &clamped));
    }
}
