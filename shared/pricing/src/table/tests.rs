//! The shipped table, lookups and overrides.

use switchyard_config::{MicrosPerMillion, PriceOverride};

use super::*;
use crate::{Usage, cost_micros};

fn shipped() -> PriceTable {
    PriceTable::shipped().expect("the shipped price table parses")
}

fn over(vendor: &str, model: &str, input: u64, output: u64) -> PriceOverride {
    PriceOverride {
        vendor: vendor.into(),
        model: model.into(),
        input_per_million: MicrosPerMillion(input),
        output_per_million: MicrosPerMillion(output),
        cached_input_per_million: None,
        cache_write_per_million: None,
    }
}

#[test]
fn shipped_table_parses_and_every_entry_is_priced() {
    let t = shipped();
    assert_eq!(t.version(), "2026-11-01");
    let entries: Vec<_> = t.iter().collect();
    assert!(entries.len() > 40, "{} entries", entries.len());
    for (vendor, model, p) in &entries {
        assert!(p.input > 0, "{vendor}/{model} has no input price");
        // Embedding models bill input only; everything else bills output.
        if !model.contains("embed") {
            assert!(p.output > 0, "{vendor}/{model} has no output price");
        }
        if let Some(cached) = p.cached_input {
            assert!(
                cached < p.input,
                "{vendor}/{model} cache reads cost more than input"
            );
        }
    }
    for vendor in [
        "openai",
        "anthropic",
        "google",
        "mistral",
        "groq",
        "deepseek",
        "cohere",
    ] {
        assert!(
            entries.iter().any(|(v, _, _)| *v == vendor),
            "no {vendor} prices shipped"
        );
    }
}

#[test]
fn anthropic_cache_writes_are_a_quarter_over_input() {
    let t = shipped();
    for (vendor, model, p) in t.iter().filter(|(v, _, _)| *v == "anthropic") {
        let write = p.cache_write.expect("anthropic entries price cache writes");
        assert_eq!(write * 4, p.input * 5, "{vendor}/{model}");
        let read = p.cached_input.expect("anthropic entries price cache reads");
        // 0.1× input, or less where Anthropic publishes less (Opus/Sonnet 5.5).
        assert!(read * 10 <= p.input, "{vendor}/{model}");
    }
}

#[test]
fn known_prices_and_aliases() {
    let t = shipped();
    let mini = t.lookup("openai", "gpt-4o-mini").unwrap();
    assert_eq!(
        mini,
        Price {
            input: 150_000,
            output: 600_000,
            cached_input: Some(75_000),
            cache_write: None,
        }
    );
    assert_eq!(t.lookup("openai", "gpt-4o-mini-2024-07-18"), Some(mini));
    assert_eq!(
        t.lookup("OpenAI", "gpt-4o-mini"),
        Some(mini),
        "vendors ignore case"
    );
    let sonnet = t.lookup("anthropic", "claude-sonnet-4-5-20250929").unwrap();
    assert_eq!(sonnet, t.lookup("anthropic", "claude-sonnet-4-5").unwrap());
    assert_eq!(sonnet.cache_write, Some(3_750_000));
    assert_eq!(
        t.lookup("deepseek", "deepseek-v4-flash"),
        t.lookup("deepseek", "deepseek-flash")
    );
    assert_eq!(t.lookup("openai", "gpt-4o-MINI"), None, "models are exact");
    assert_eq!(t.lookup("openai", "no-such-model"), None);
    assert_eq!(
        t.lookup("anthropic", "gpt-4o-mini"),
        None,
        "prices are per vendor"
    );
    assert_eq!(t.lookup("unknown", "gpt-4o-mini"), None);
}

#[test]
fn self_hosted_and_mock_are_free() {
    let t = shipped();
    assert_eq!(t.lookup("self-hosted", "llama-3.1-8b"), Some(Price::ZERO));
    assert_eq!(t.lookup("mock", "mock-1"), Some(Price::ZERO));
    let usage = Usage {
        prompt_tokens: 1_000,
        completion_tokens: 1_000,
        ..Default::default()
    };
    assert_eq!(cost_micros(&Price::ZERO, &usage), 0);
    // An operator can still price their own hardware.
    let t = t.with_overrides(&[over("self-hosted", "llama-3.1-8b", 10_000, 20_000)]);
    assert_eq!(
        t.lookup("self-hosted", "llama-3.1-8b").map(|p| p.input),
        Some(10_000)
    );
    assert_eq!(t.lookup("self-hosted", "other"), Some(Price::ZERO));
}

#[test]
fn overrides_replace_extend_and_change_the_version() {
    let base = shipped();
    let overrides = [
        PriceOverride {
            cached_input_per_million: Some(MicrosPerMillion(60_000)),
            ..over("openai", "gpt-4o-mini", 120_000, 480_000)
        },
        over("acme", "acme-1", 1_000_000, 2_000_000),
    ];
    let t = base.clone().with_overrides(&overrides);
    let mini = t.lookup("openai", "gpt-4o-mini").unwrap();
    assert_eq!(
        (mini.input, mini.output, mini.cached_input),
        (120_000, 480_000, Some(60_000))
    );
    // Aliases follow the model they alias.
    assert_eq!(t.lookup("openai", "gpt-4o-mini-2024-07-18"), Some(mini));
    assert_eq!(
        t.lookup("acme", "acme-1").map(|p| p.output),
        Some(2_000_000)
    );
    // Untouched entries keep their shipped price.
    assert_eq!(
        t.lookup("openai", "gpt-4o"),
        base.lookup("openai", "gpt-4o")
    );

    let version = t.version();
    let digest = version.strip_prefix("2026-11-01+cfg-").expect(version);
    assert_eq!(digest.len(), 16);
    assert!(
        digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    // Deterministic, and different prices give a different version.
    assert_eq!(base.clone().with_overrides(&overrides).version(), version);
    let other = base
        .clone()
        .with_overrides(&[over("acme", "acme-1", 1_000_000, 2_000_001)]);
    assert_ne!(other.version(), version);
    // No overrides, no change.
    assert_eq!(base.clone().with_overrides(&[]).version(), "2026-11-01");
    assert_eq!(base.clone().with_overrides(&[]), base);
}

#[test]
fn overriding_an_alias_prices_only_that_snapshot() {
    let t = shipped().with_overrides(&[over("openai", "gpt-4o-2024-08-06", 5_000_000, 15_000_000)]);
    assert_eq!(
        t.lookup("openai", "gpt-4o-2024-08-06").map(|p| p.input),
        Some(5_000_000)
    );
    assert_eq!(
        t.lookup("openai", "gpt-4o").map(|p| p.input),
        Some(2_500_000)
    );
    assert_eq!(
        t.lookup("openai", "gpt-4o-2024-11-20").map(|p| p.input),
        Some(2_500_000)
    );
}

#[test]
fn bad_tables_are_rejected() {
    let entry = |vendor: &str, model: &str, extra: &str| {
        format!(
            "[[price]]\nvendor = \"{vendor}\"\nmodel = \"{model}\"\ninput_per_million = \"1\"\noutput_per_million = \"2\"\n{extra}"
        )
    };
    let table = |body: &str| PriceTable::parse(&format!("version = \"x\"\n{body}"));
    assert!(table(&entry("v", "m", "")).is_ok());
    assert!(matches!(
        PriceTable::parse(&entry("v", "m", "")),
        Err(PricingError::Syntax(_))
    ));
    assert!(matches!(
        PriceTable::parse("version = \"\""),
        Err(PricingError::Invalid { .. })
    ));
    assert!(matches!(
        table("[[price]]\nvendor = \"v\"\nmodel = \"m\"\ninput_per_million = \"1\"\n"),
        Err(PricingError::Syntax(_))
    ));
    assert!(matches!(
        table(&entry("v", "m", "colour = 1\n")),
        Err(PricingError::Syntax(_))
    ));
    assert!(matches!(
        table(&entry(
            "v",
            "m",
            "cached_input_per_million = \"0.0000001\"\n"
        )),
        Err(PricingError::Syntax(_))
    ));
    let dup = format!("{}{}", entry("v", "m", ""), entry("v", "m", ""));
    assert!(matches!(table(&dup), Err(PricingError::Invalid { .. })));
    let alias_clash = format!(
        "{}{}",
        entry("v", "m", ""),
        entry("v", "n", "aliases = [\"m\"]\n")
    );
    assert!(matches!(
        table(&alias_clash),
        Err(PricingError::Invalid { .. })
    ));
    let model_clash = format!(
        "{}{}",
        entry("v", "m", "aliases = [\"n\"]\n"),
        entry("v", "n", "")
    );
    assert!(matches!(
        table(&model_clash),
        Err(PricingError::Invalid { .. })
    ));
    assert!(matches!(
        table(&entry("V", "m", "")),
        Err(PricingError::Invalid { .. })
    ));
    assert!(matches!(
        table(&entry("v", " ", "")),
        Err(PricingError::Invalid { .. })
    ));
    // The same model id under two vendors is two prices.
    assert!(table(&format!("{}{}", entry("a", "m", ""), entry("b", "m", ""))).is_ok());
    let err = table(&dup).unwrap_err().to_string();
    assert!(err.contains("v/m"), "{err}");
}
