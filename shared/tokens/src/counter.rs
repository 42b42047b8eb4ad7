//! Counting streamed text once, at the end, if at all.

use crate::{count, to_u64};

/// Tokens of text that arrives in pieces (a streamed completion), counted only when
/// asked.
///
/// Tokenizing every chunk as it passes would put the tokenizer on the hot path of
/// every stream, though a count is needed only for the rare stream whose provider
/// reports no usage; and token counts do not add up across arbitrary cuts anyway. So
/// `push` only appends, and [`count`](Self::count) tokenizes once. The text kept is
/// bounded ([`Counter::DEFAULT_LIMIT`] bytes); beyond it only characters are
/// counted, and the count extrapolates at the tokens-per-character rate of the text
/// kept.
#[derive(Debug, Clone)]
pub struct Counter {
    text: String,
    limit: usize,
    overflow_chars: u64,
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

impl Counter {
    /// Text kept for counting, in bytes: 1 MiB, about 250,000 tokens of English,
    /// beyond any normal completion.
    pub const DEFAULT_LIMIT: usize = 1 << 20;

    /// An empty counter keeping up to [`Counter::DEFAULT_LIMIT`] bytes.
    pub fn new() -> Self {
        Self::with_limit(Self::DEFAULT_LIMIT)
    }

    /// An empty counter keeping up to `limit` bytes of text.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            text: String::new(),
            limit,
            overflow_chars: 0,
        }
    }

    /// Adds a piece of text. Cheap: appends (or, past the limit, counts characters).
    pub fn push(&mut self, text: &str) {
        let room = self.limit.saturating_sub(self.text.len());
        if text.len() <= room {
            self.text.push_str(text);
            return;
        }
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&text[..cut]);
        self.overflow_chars = self
            .overflow_chars
            .saturating_add(to_u64(text[cut..].chars().count()));
    }

    /// Whether no text was pushed.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.overflow_chars == 0
    }

    /// Tokens of everything pushed: the text kept, tokenized now, plus the text past
    /// the limit at the same tokens-per-character rate.
    pub fn count(&self) -> u64 {
        let kept = count(&self.text);
        if self.overflow_chars == 0 {
            return kept;
        }
        let kept_chars = self.text.chars().count();
        if kept_chars == 0 {
            // Nothing to take a rate from: the fallback rule.
            return self.overflow_chars.div_ceil(4);
        }
        let extra = u128::from(self.overflow_chars) * u128::from(kept);
        let extra = extra.div_ceil(u128::from(to_u64(kept_chars)));
        kept.saturating_add(u64::try_from(extra).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_whole_text_once() {
        let mut counter = Counter::new();
        assert!(counter.is_empty());
        assert_eq!(counter.count(), 0);
        for piece in ["The quick", " brown fox", " jumps over the", " lazy dog."] {
            counter.push(piece);
        }
        assert!(!counter.is_empty());
        // The whole sentence, not the sum of its pieces' counts.
        assert_eq!(
            counter.count(),
            count("The quick brown fox jumps over the lazy dog.")
        );
        assert_eq!(counter.count(), 10);
    }

    #[test]
    fn past_the_limit_it_extrapolates_by_characters() {
        let mut counter = Counter::with_limit(10);
        counter.push("hello world"); // 11 bytes: "hello worl" kept, "d" counted
        assert_eq!(counter.text, "hello worl");
        counter.push("hello world"); // all 11 characters past the limit
        let kept = count("hello worl");
        let expected = kept + (12 * kept).div_ceil(10);
        assert_eq!(counter.count(), expected);

        // Cuts fall on character boundaries.
        let mut counter = Counter::with_limit(2);
        counter.push("héé");
        assert_eq!(counter.text, "h");
        assert_eq!(counter.overflow_chars, 2);
        assert!(counter.count() >= 1);

        let mut nothing_kept = Counter::with_limit(0);
        nothing_kept.push("abcdefghi");
        assert!(!nothing_kept.is_empty());
        assert_eq!(nothing_kept.count(), 3);
    }
}
