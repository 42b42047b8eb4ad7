//! A usage record's numbers when the provider gave none.

use std::sync::Arc;

use switchyard_proto::types::v1::Usage;

use crate::{Counter, DeferredPrompt};

/// Usage counted by Switchyard — the prompt's tokens and the completion's — marked
/// `estimated`.
///
/// The counting runs on tokio's blocking pool: a megabyte of text takes tens of
/// milliseconds to tokenize, too long to hold an async worker that is relaying other
/// requests. If the pool is gone (the runtime is shutting down) it counts here
/// instead, since a usage record must never lose its numbers.
pub async fn estimate_usage(prompt: DeferredPrompt, completion: Counter) -> Usage {
    let inputs = Arc::new((prompt, completion));
    let task = {
        let inputs = Arc::clone(&inputs);
        tokio::task::spawn_blocking(move || counts(&inputs))
    };
    let (prompt_tokens, completion_tokens) = match task.await {
        Ok(counts) => counts,
        Err(_) => counts(&inputs),
    };
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens.saturating_add(completion_tokens),
        estimated: true,
        ..Usage::default()
    }
}

fn counts((prompt, completion): &(DeferredPrompt, Counter)) -> (u64, u64) {
    (prompt.count(), completion.count())
}

#[cfg(test)]
mod tests {
    use switchyard_proto::types::v1::EmbedRequest;

    use super::*;

    #[tokio::test]
    async fn counts_both_sides_and_marks_the_result_estimated() {
        let prompt = DeferredPrompt::embed(&EmbedRequest {
            input: vec!["hello world".into()],
            ..EmbedRequest::default()
        });
        let mut completion = Counter::new();
        completion.push("Hello, ");
        completion.push("world!");
        let usage = estimate_usage(prompt, completion).await;
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (2, 4, 6)
        );
        assert!(usage.estimated);
        let nothing = estimate_usage(DeferredPrompt::default(), Counter::new()).await;
        assert_eq!((nothing.total_tokens, nothing.estimated), (0, true));
    }
}
