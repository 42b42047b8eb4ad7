//! Text completions (`text_prompt`) for providers with only a chat API
//! (Anthropic, Gemini, Bedrock, Cohere), as other gateways serve legacy
//! `/v1/completions` callers: each prompt becomes one chat call whose single user
//! message is the prompt, with the request's sampling, limits, stop sequences and
//! `n`. The answers are put together as a completions API would give them:
//! choices numbered prompt by prompt (those of prompt `i` are `i*n` to
//! `i*n+n-1`), `echo` putting each prompt in front of its choices' text, and one
//! usage, the calls' sum. A chat model does not continue text as written — it
//! answers it as a message — which is what callers of such a gateway expect.
//!
//! What only a completions API can do is refused before any call, naming the
//! parameter: `suffix` (fill-in-the-middle), and `echo` with `logprobs` or with
//! `max_tokens: 0` (scoring the prompt's own tokens).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::future::try_join_all;
use futures::stream::{self, BoxStream};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatChunk, ChatRequest, ChatResponse, ContentPart, EmbedRequest, EmbedResponse, Message, Role,
    TokenCount, Usage,
};

use crate::error::ProviderError;
use crate::provider::{ChatProvider, ChunkStream};

/// A chat-only provider serving text prompts over its chat API.
pub struct TextOverChat(pub Arc<dyn ChatProvider>);

/// The prompts of `req`, refusing what needs a completions API.
fn prompts(req: &ChatRequest) -> Result<(&[String], bool), ProviderError> {
    let Some(text) = &req.text_prompt else {
        return Ok((&[], false));
    };
    let refuse = |param: &str, what: &str| {
        Err(ProviderError::invalid(
            param,
            format!(
                "{what} needs a text-completions API, which this provider has not; route the model to an OpenAI-compatible provider"
            ),
        ))
    };
    if text.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return refuse("suffix", "`suffix` (fill-in-the-middle)");
    }
    if text.echo && req.logprobs == Some(true) {
        return refuse(
            "logprobs",
            "scoring an echoed prompt (`echo` with `logprobs`)",
        );
    }
    if text.echo && req.max_tokens == Some(0) {
        return refuse(
            "max_tokens",
            "scoring a prompt (`echo` with `max_tokens: 0`)",
        );
    }
    Ok((&text.prompts, text.echo))
}

/// The chat request for one prompt: `req` with the prompt as its only message.
fn chat_request(req: &ChatRequest, prompt: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(Part::Text(prompt.to_string())),
            }],
            ..Message::default()
        }],
        text_prompt: None,
        ..req.clone()
    }
}

/// Adds `more` to `total`; estimated if either was.
fn add_usage(total: &mut Usage, more: &Usage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
    total.total_tokens += more.total_tokens;
    total.cached_prompt_tokens += more.cached_prompt_tokens;
    total.reasoning_tokens += more.reasoning_tokens;
    total.cache_write_prompt_tokens += more.cache_write_prompt_tokens;
    total.estimated |= more.estimated;
}

/// Puts `prompt` in front of `message`'s text.
fn echo_into(message: &mut Message, prompt: &str) {
    match message.content.iter_mut().find_map(|p| match &mut p.part {
        Some(Part::Text(text)) => Some(text),
        _ => None,
    }) {
        Some(text) => text.insert_str(0, prompt),
        None => message.content.insert(
            0,
            ContentPart {
                part: Some(Part::Text(prompt.to_string())),
            },
        ),
    }
}

/// How many choices each prompt gets.
fn per_prompt(req: &ChatRequest) -> u32 {
    req.n.unwrap_or(1).max(1)
}

#[async_trait]
impl ChatProvider for TextOverChat {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let (prompts, echo) = prompts(req)?;
        let n = per_prompt(req);
        let answers = try_join_all(prompts.iter().map(|prompt| async move {
            self.0
                .chat(upstream_model, &chat_request(req, prompt))
                .await
        }))
        .await?;
        let mut whole: Option<ChatResponse> = None;
        let mut usage = Usage::default();
        for (i, (mut answer, prompt)) in answers.into_iter().zip(prompts).enumerate() {
            add_usage(&mut usage, &answer.usage.take().unwrap_or_default());
            for choice in &mut answer.choices {
                choice.index += i as u32 * n;
                if echo {
                    echo_into(choice.message.get_or_insert_with(Message::default), prompt);
                }
            }
            match &mut whole {
                None => whole = Some(answer),
                Some(whole) => whole.choices.append(&mut answer.choices),
            }
        }
        let mut whole = whole.ok_or_else(|| {
            ProviderError::invalid("text_prompt.prompts", "must contain at least one prompt")
        })?;
        whole.usage = Some(usage);
        Ok(whole)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let (prompts, echo) = prompts(req)?;
        let n = per_prompt(req);
        let streams = try_join_all(prompts.iter().map(|prompt| async move {
            self.0
                .chat_stream(upstream_model, &chat_request(req, prompt))
                .await
        }))
        .await?;
        let count = streams.len();
        let numbered: Vec<BoxStream<'static, Result<ChatChunk, ProviderError>>> = streams
            .into_iter()
            .zip(prompts.iter().cloned())
            .enumerate()
            .map(|(i, (chunks, prompt))| {
                let first = i as u32 * n;
                let mut echoed = HashSet::new();
                chunks
                    .map(move |chunk| {
                        chunk.map(|mut chunk| {
                            for choice in &mut chunk.choices {
                                choice.index += first;
                                if echo && echoed.insert(choice.index) {
                                    let delta = choice.delta.get_or_insert_default();
                                    let content = delta.content.get_or_insert_default();
                                    content.insert_str(0, &prompt);
                                }
                            }
                            chunk
                        })
                    })
                    .boxed()
            })
            .collect();
        if count == 1 {
            return Ok(stream::select_all(numbered).boxed());
        }
        // Each stream ends with its usage chunk: they are held back and summed
        // into the one usage chunk that ends the whole.
        let mut left = count;
        let mut usage = Usage::default();
        let merged = stream::select_all(numbered).filter_map(move |chunk| {
            let out = match chunk {
                Ok(mut chunk) if chunk.choices.is_empty() && chunk.usage.is_some() => {
                    add_usage(&mut usage, &chunk.usage.take().unwrap_or_default());
                    left -= 1;
                    (left == 0).then(|| {
                        chunk.usage = Some(std::mem::take(&mut usage));
                        Ok(chunk)
                    })
                }
                other => Some(other),
            };
            std::future::ready(out)
        });
        Ok(merged.boxed())
    }

    fn completes_text(&self) -> bool {
        true
    }

    async fn embed(
        &self,
        upstream_model: &str,
        req: &EmbedRequest,
    ) -> Result<EmbedResponse, ProviderError> {
        self.0.embed(upstream_model, req).await
    }

    async fn count_tokens(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<TokenCount, ProviderError> {
        let (prompts, _) = prompts(req)?;
        let counts = try_join_all(prompts.iter().map(|prompt| async move {
            self.0
                .count_tokens(upstream_model, &chat_request(req, prompt))
                .await
        }))
        .await?;
        let mut total = TokenCount::default();
        for count in counts {
            total.input_tokens += count.input_tokens;
            total.estimated |= count.estimated;
            total.provider = count.provider;
        }
        Ok(total)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use switchyard_proto::types::v1::{ChunkChoice, Delta, TextPrompt};

    use super::*;

    /// Answers each chat with `n` choices, `<prompt>:<index>`, and 10 + index
    /// completion tokens per call.
    struct Echoing;

    fn prompt_of(req: &ChatRequest) -> String {
        assert!(req.text_prompt.is_none());
        assert_eq!(req.messages.len(), 1);
        match &req.messages[0].content[0].part {
            Some(Part::Text(t)) => t.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn usage(completion_tokens: u64) -> Usage {
        Usage {
            prompt_tokens: 3,
            completion_tokens,
            total_tokens: 3 + completion_tokens,
            ..Usage::default()
        }
    }

    #[async_trait]
    impl ChatProvider for Echoing {
        async fn chat(&self, _: &str, req: &ChatRequest) -> Result<ChatResponse, ProviderError> {
            let prompt = prompt_of(req);
            let choices = (0..req.n.unwrap_or(1))
                .map(|i| switchyard_proto::types::v1::Choice {
                    index: i,
                    message: Some(Message {
                        content: vec![ContentPart {
                            part: Some(Part::Text(format!(":{prompt}{i}"))),
                        }],
                        ..Message::default()
                    }),
                    ..Default::default()
                })
                .collect();
            Ok(ChatResponse {
                choices,
                usage: Some(usage(10)),
                ..ChatResponse::default()
            })
        }

        async fn chat_stream(
            &self,
            _: &str,
            req: &ChatRequest,
        ) -> Result<ChunkStream, ProviderError> {
            let prompt = prompt_of(req);
            let mut chunks: Vec<Result<ChatChunk, ProviderError>> = (0..req.n.unwrap_or(1))
                .map(|i| {
                    Ok(ChatChunk {
                        choices: vec![ChunkChoice {
                            index: i,
                            delta: Some(Delta {
                                content: Some(format!(":{prompt}{i}")),
                                ..Delta::default()
                            }),
                            ..ChunkChoice::default()
                        }],
                        ..ChatChunk::default()
                    })
                })
                .collect();
            chunks.push(Ok(ChatChunk {
                usage: Some(usage(5)),
                ..ChatChunk::default()
            }));
            Ok(stream::iter(chunks).boxed())
        }

        async fn embed(&self, _: &str, _: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
            unreachable!()
        }
    }

    fn request(prompts: &[&str], n: u32, echo: bool) -> ChatRequest {
        ChatRequest {
            n: Some(n),
            text_prompt: Some(TextPrompt {
                prompts: prompts.iter().map(|p| (*p).to_string()).collect(),
                suffix: None,
                echo,
            }),
            ..ChatRequest::default()
        }
    }

    #[tokio::test]
    async fn choices_are_numbered_prompt_by_prompt_and_usage_summed() {
        let provider = TextOverChat(Arc::new(Echoing));
        let answer = provider
            .chat("m", &request(&["a", "b"], 2, true))
            .await
            .unwrap();
        let texts: Vec<(u32, String)> = answer
            .choices
            .iter()
            .map(|c| match &c.message.as_ref().unwrap().content[0].part {
                Some(Part::Text(t)) => (c.index, t.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            texts,
            [(0, "a:a0"), (1, "a:a1"), (2, "b:b0"), (3, "b:b1")].map(|(i, t)| (i, t.to_string()))
        );
        assert_eq!(
            answer.usage,
            Some(Usage {
                prompt_tokens: 6,
                completion_tokens: 20,
                total_tokens: 26,
                ..Usage::default()
            })
        );
    }

    #[tokio::test]
    async fn streams_are_merged_with_one_usage_chunk_last() {
        let provider = TextOverChat(Arc::new(Echoing));
        let chunks: Vec<ChatChunk> = provider
            .chat_stream("m", &request(&["a", "b", "c"], 2, false))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        let mut texts: Vec<(u32, String)> = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .map(|c| (c.index, c.delta.as_ref().unwrap().content.clone().unwrap()))
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                (0, ":a0"),
                (1, ":a1"),
                (2, ":b0"),
                (3, ":b1"),
                (4, ":c0"),
                (5, ":c1")
            ]
            .map(|(i, t)| (i, t.to_string()))
        );
        let usages: Vec<&Usage> = chunks.iter().filter_map(|c| c.usage.as_ref()).collect();
        assert_eq!(usages.len(), 1);
        assert_eq!(
            chunks
                .last()
                .unwrap()
                .usage
                .as_ref()
                .unwrap()
                .completion_tokens,
            15
        );
        // One prompt: passed through, the echo in front of each choice's first delta.
        let one: Vec<ChatChunk> = provider
            .chat_stream("m", &request(&["x"], 1, true))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(
            one[0].choices[0].delta.as_ref().unwrap().content.as_deref(),
            Some("x:x0")
        );
        assert_eq!(one[1].usage.as_ref().unwrap().completion_tokens, 5);
    }
}
