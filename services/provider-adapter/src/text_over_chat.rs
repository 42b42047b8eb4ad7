//! Text completions (`text_prompt`) for providers with only a chat API
//! (Anthropic, Gemini, Bedrock, Cohere), as other gateways serve legacy
//! `/v1/completions` callers: the prompt becomes the single user message of one
//! chat call, with the request's sampling, limits, stop sequences and `n`; `echo`
//! puts the prompt in front of each choice's text. A chat model does not continue
//! text as written — it answers it as a message — which is what callers of such
//! a gateway expect.
//!
//! What only a completions API can do is refused before any call, naming the
//! parameter: `suffix` (fill-in-the-middle), `echo` with `logprobs` or with
//! `max_tokens: 0` (scoring the prompt's own tokens), and several prompts at
//! once: as several chat calls, one failing after another had answered would
//! leave tokens the provider bills with no usage record to carry them.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatRequest, ChatResponse, ContentPart, EmbedRequest, EmbedResponse, Message, Role, TokenCount,
};

use crate::error::ProviderError;
use crate::provider::{ChatProvider, ChunkStream};

/// A chat-only provider serving text prompts over its chat API.
pub struct TextOverChat(pub Arc<dyn ChatProvider>);

/// The chat request for `req`'s one prompt, and the prompt when it is echoed;
/// refuses what needs a completions API.
fn as_chat(req: &ChatRequest) -> Result<(ChatRequest, Option<String>), ProviderError> {
    let refuse = |param: &str, what: &str| {
        Err(ProviderError::invalid(
            param,
            format!(
                "{what} needs a text-completions API, which this provider has not; route the model to an OpenAI-compatible provider"
            ),
        ))
    };
    let Some(text) = &req.text_prompt else {
        return Ok((req.clone(), None));
    };
    let [prompt] = text.prompts.as_slice() else {
        return refuse("text_prompt", "More than one prompt per request");
    };
    if text.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return refuse("suffix", "`suffix` (fill-in-the-middle)");
    }
    if text.echo && req.logprobs == Some(true) {
        return refuse(
            "logprobs",
            "Scoring an echoed prompt (`echo` with `logprobs`)",
        );
    }
    if text.echo && req.max_tokens == Some(0) {
        return refuse(
            "max_tokens",
            "Scoring a prompt (`echo` with `max_tokens: 0`)",
        );
    }
    let chat = ChatRequest {
        messages: vec![Message {
            role: Role::User as i32,
            content: vec![ContentPart {
                part: Some(Part::Text(prompt.clone())),
            }],
            ..Message::default()
        }],
        text_prompt: None,
        ..req.clone()
    };
    Ok((chat, text.echo.then(|| prompt.clone())))
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

#[async_trait]
impl ChatProvider for TextOverChat {
    async fn chat(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let (chat, echo) = as_chat(req)?;
        let mut answer = self.0.chat(upstream_model, &chat).await?;
        if let Some(prompt) = echo {
            for choice in &mut answer.choices {
                echo_into(choice.message.get_or_insert_with(Message::default), &prompt);
            }
        }
        Ok(answer)
    }

    async fn chat_stream(
        &self,
        upstream_model: &str,
        req: &ChatRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let (chat, echo) = as_chat(req)?;
        let chunks = self.0.chat_stream(upstream_model, &chat).await?;
        let Some(prompt) = echo else {
            return Ok(chunks);
        };
        // The prompt goes in front of each choice's first delta.
        let mut echoed = HashSet::new();
        Ok(chunks
            .map(move |chunk| {
                chunk.map(|mut chunk| {
                    for choice in &mut chunk.choices {
                        if echoed.insert(choice.index) {
                            let delta = choice.delta.get_or_insert_default();
                            delta.content.get_or_insert_default().insert_str(0, &prompt);
                        }
                    }
                    chunk
                })
            })
            .boxed())
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
        self.0.count_tokens(upstream_model, &as_chat(req)?.0).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use futures::stream;
    use switchyard_proto::types::v1::{ChatChunk, ChunkChoice, Delta, TextPrompt, Usage};

    use super::*;

    /// Answers each chat with `n` choices, `:<prompt><index>`.
    struct Answering;

    fn prompt_of(req: &ChatRequest) -> String {
        assert!(req.text_prompt.is_none());
        assert_eq!(req.messages.len(), 1);
        assert_eq!(req.messages[0].role, Role::User as i32);
        match &req.messages[0].content[0].part {
            Some(Part::Text(t)) => t.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[async_trait]
    impl ChatProvider for Answering {
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
                usage: Some(Usage::default()),
                ..ChatResponse::default()
            })
        }

        async fn chat_stream(
            &self,
            _: &str,
            req: &ChatRequest,
        ) -> Result<ChunkStream, ProviderError> {
            let prompt = prompt_of(req);
            let delta = |i: u32, text: String| ChatChunk {
                choices: vec![ChunkChoice {
                    index: i,
                    delta: Some(Delta {
                        content: Some(text),
                        ..Delta::default()
                    }),
                    ..ChunkChoice::default()
                }],
                ..ChatChunk::default()
            };
            let n = req.n.unwrap_or(1);
            let mut chunks: Vec<Result<ChatChunk, ProviderError>> = (0..n)
                .map(|i| Ok(delta(i, format!(":{prompt}{i}"))))
                .collect();
            chunks.extend((0..n).map(|i| Ok(delta(i, "!".into()))));
            chunks.push(Ok(ChatChunk {
                usage: Some(Usage::default()),
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
    async fn the_prompt_is_one_user_message_and_echoed_in_front_of_each_choice() {
        let provider = TextOverChat(Arc::new(Answering));
        let answer = provider.chat("m", &request(&["a"], 2, true)).await.unwrap();
        let texts: Vec<(u32, String)> = answer
            .choices
            .iter()
            .map(|c| match &c.message.as_ref().unwrap().content[0].part {
                Some(Part::Text(t)) => (c.index, t.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, [(0, "a:a0".to_string()), (1, "a:a1".to_string())]);

        let chunks: Vec<ChatChunk> = provider
            .chat_stream("m", &request(&["x"], 2, true))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        let texts: Vec<(u32, &str)> = chunks
            .iter()
            .flat_map(|c| &c.choices)
            .map(|c| {
                (
                    c.index,
                    c.delta.as_ref().unwrap().content.as_deref().unwrap(),
                )
            })
            .collect();
        assert_eq!(texts, [(0, "x:x0"), (1, "x:x1"), (0, "!"), (1, "!")]);
        assert!(chunks.last().unwrap().usage.is_some());
    }

    #[tokio::test]
    async fn several_prompts_are_refused_before_any_call() {
        let provider = TextOverChat(Arc::new(Answering));
        let err = provider
            .chat("m", &request(&["a", "b"], 1, false))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ProviderError::InvalidRequest { ref param, .. } if param == "text_prompt")
        );
    }
}
