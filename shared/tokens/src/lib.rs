//! Token counting — the one place Switchyard counts tokens itself.
//!
//! Providers normally report what a request used, and those counts are what gets
//! billed. When one does not (some self-hosted servers never do; a stream cut before
//! its usage report; a client that left before the report arrived), the usage record
//! still needs numbers, and they must be close to what the provider would have
//! charged, so the usage ledger and budgets stay honest. A four-characters-per-token
//! rule can be off several times over (Chinese or Japanese text runs near one token
//! per character); a real tokenizer is not.
//!
//! Counts use OpenAI's `o200k_base` byte-pair encoding (via `tiktoken-rs`, whose BPE
//! ranks are compiled into the binary: nothing is downloaded, ever). For OpenAI's
//! o200k models (GPT-4o, GPT-4.1, o-series, GPT-5) text counts are exact, and a chat
//! prompt is counted the way OpenAI documents it (3 tokens per message, 3 priming
//! the reply); image, audio and tool-definition costs are documented approximations.
//! For every other model (Llama, Gemma, Mistral, Claude, ...) the counts approximate
//! that model's own tokenizer: close for English prose, further off for other
//! scripts and for code. Either way every record built from them is marked
//! `usage_estimated`.
//!
//! Tokenizing costs about 0.1–0.2 µs per token (100–150 µs for a 1,000-token
//! prompt, measured on the 2-core dev VM), so callers count only when a provider's own report is missing, never on
//! every request: [`DeferredPrompt`] keeps what a prompt's count needs, and
//! [`Counter`] keeps streamed text, both counted on demand by [`estimate_usage`] (off
//! the async workers). The encoder (about 200,000 ranks, ~45 MB of memory, ~0.15 s
//! to build) is built on first use, once per process, and shared, so a process that
//! never needs a count never pays for it.

mod chat;
mod counter;
mod estimate;

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

pub use chat::{
    AUDIO_TOKENS, DeferredPrompt, IMAGE_HIGH_DETAIL_TOKENS, IMAGE_LOW_DETAIL_TOKENS,
    MESSAGE_OVERHEAD, NAME_OVERHEAD, REPLY_PRIMING, chat_prompt, choices, context_prompt,
    embed_input,
};
pub use counter::Counter;
pub use estimate::estimate_usage;

/// The shared `o200k_base` encoder, built on first use; `None` if it could not be
/// built (then every count falls back to [`approximate`]).
fn encoder() -> Option<&'static CoreBPE> {
    static ENCODER: OnceLock<Option<CoreBPE>> = OnceLock::new();
    ENCODER
        .get_or_init(|| {
            catch_unwind(tiktoken_rs::o200k_base)
                .ok()
                .and_then(Result::ok)
        })
        .as_ref()
}

/// Tokens in `text` under `o200k_base`.
///
/// Never panics: if the tokenizer fails (it should not, but it is a regex engine
/// with a backtracking limit over arbitrary input) the count falls back to
/// [`approximate`], so a usage record always gets a number. Special-token text such
/// as `<|endoftext|>` is counted as ordinary text, as a provider would see it.
pub fn count(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    let Some(bpe) = encoder() else {
        return approximate(text);
    };
    // `encode` with no allowed special tokens reports regex failures as errors,
    // where `encode_ordinary` would panic; `catch_unwind` covers anything else.
    let no_special = HashSet::new();
    match catch_unwind(AssertUnwindSafe(|| bpe.encode(text, &no_special))) {
        Ok(Ok((tokens, _))) => to_u64(tokens.len()),
        _ => approximate(text),
    }
}

/// The fallback rule: one token per four characters, rounded up.
pub fn approximate(text: &str) -> u64 {
    to_u64(text.chars().count().div_ceil(4))
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_counts_under_o200k_base() {
        // Pinned from tiktoken-rs 0.12's o200k_base.
        assert_eq!(count(""), 0);
        assert_eq!(count("hello world"), 2);
        assert_eq!(count("Hello, world!"), 4);
        assert_eq!(count("The quick brown fox jumps over the lazy dog."), 10);
        assert_eq!(count("héllo wörld 🚀🦀"), 10);
        assert_eq!(count("Red, green, blue."), 6);
    }

    #[test]
    fn special_tokens_are_plain_text() {
        assert_eq!(count("<|endoftext|>"), 7);
    }

    #[test]
    fn odd_unicode_never_panics() {
        let odd = [
            "\u{0}",
            "\u{feff}\u{200b}\u{200d}",
            "e\u{301}\u{301}\u{301}\u{301}",
            "👨‍👩‍👧‍👦🏳️‍🌈",
            "\u{10ffff}\u{e000}",
            "\r\n\r\n\t \u{a0}\u{2028}\u{3000}",
            "ｱｲｳ 漢字 한국어 العربية עברית",
        ];
        for text in odd {
            let n = count(text);
            assert!(n > 0, "{text:?}");
            // Never more tokens than bytes: every byte is at worst its own token.
            assert!(n <= text.len() as u64, "{text:?}: {n}");
        }
        let long_run = "a".repeat(100_000) + &" ".repeat(100_000) + "\u{301}";
        assert!(count(&long_run) > 0);
    }

    #[test]
    fn the_fallback_counts_characters() {
        assert_eq!(approximate(""), 0);
        assert_eq!(approximate("héé"), 1);
        assert_eq!(approximate("abcdefghi"), 3);
    }
}
