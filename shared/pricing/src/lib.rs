//! Prices and costs — the one place where Switchyard turns token counts into money.
//!
//! Money is exact: every price is an integer number of micro-dollars per million
//! tokens and every cost an integer number of micro-dollars, so two routers, a
//! replay of the usage ledger and an invoice always agree to the micro-dollar. Having
//! a single cost function ([`cost_micros`]) and a single price table ([`PriceTable`])
//! means a pricing rule is fixed in one place, not in each service or adapter.
//!
//! # Normalized usage
//!
//! Provider adapters translate each provider's usage report into the proto
//! [`Usage`] with this convention, and [`cost_micros`] relies on it:
//!
//! | field | meaning |
//! |---|---|
//! | `prompt_tokens` | ALL input tokens: uncached + cache reads + cache writes |
//! | `cached_prompt_tokens` | subset of `prompt_tokens` read from the provider's cache |
//! | `cache_write_prompt_tokens` | subset of `prompt_tokens` written to the cache, disjoint from `cached_prompt_tokens` (Anthropic's cache creation) |
//! | `completion_tokens` | ALL output tokens, reasoning / thinking included |
//! | `reasoning_tokens` | subset of `completion_tokens`; informational, never billed again |
//!
//! So OpenAI's `prompt_tokens` / `cached_tokens` map over unchanged; Anthropic's
//! `input_tokens + cache_creation_input_tokens + cache_read_input_tokens` is
//! `prompt_tokens`; Gemini's `candidatesTokenCount + thoughtsTokenCount` is
//! `completion_tokens`.
//!
//! Counts that break the subset rules are clamped, never trusted: cached tokens
//! beyond the prompt count as the whole prompt, and cache writes beyond what is left
//! of the prompt after cache reads count as only that remainder. A malformed report
//! can therefore never bill a token twice, and never bill a negative amount.
//!
//! # Rounding rule
//!
//! Each token class is multiplied by its price exactly (`tokens × µ$ per million`,
//! in 128-bit integers), the products are summed, and the sum is divided by one
//! million once, rounding half up. A request's cost is within half a micro-dollar of
//! the exact figure, and `n` separately priced requests total within `n / 2`
//! micro-dollars of pricing their summed usage. Arithmetic saturates (a cost too
//! large for `i64` is `i64::MAX`); nothing here panics.
//!
//! # Prices
//!
//! [`PriceTable::shipped`] is the table compiled into the binary from `prices.toml`
//! (list prices, dated by [`PriceTable::version`]); config `[[prices]]` entries
//! replace or extend it ([`PriceTable::with_overrides`]). Entries are keyed by the
//! *vendor* who bills — see [`vendor_for`] — and the model id sent on the wire.

mod cost;
mod table;
mod vendor;

pub use cost::{Price, cost_micros};
pub use switchyard_proto::types::v1::Usage;
pub use table::PriceTable;
pub use vendor::{SELF_HOSTED, UNKNOWN, vendor_for};

/// Why a price table could not be used. Only the embedded table and test inputs are
/// parsed at run time; config overrides are validated by `switchyard-config`.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    /// The table is not valid TOML or does not match the schema.
    #[error("price table is not valid: {0}")]
    Syntax(String),
    /// An entry is well-formed but unusable (empty name, duplicate model or alias).
    #[error("price table entry `{entry}`: {message}")]
    Invalid {
        /// `vendor/model` of the entry, or `version`.
        entry: String,
        /// What is wrong.
        message: String,
    },
}
