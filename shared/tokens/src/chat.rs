//! Prompt counts of chat and embeddings requests, now or later.

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::{
    ChatRequest, ContentPart, EmbedRequest, FileData, FunctionCall, FunctionDefinition, ImageUrl,
    InputAudio, Message, Tool, ToolCall,
};

use crate::{count, to_u64};

/// Tokens each chat message costs beyond its content: OpenAI's documented 3 for the
/// message framing, plus 1 for the role (every role name is one `o200k_base` token).
pub const MESSAGE_OVERHEAD: u64 = 4;
/// Tokens a message's `name` costs beyond its text (OpenAI's documented 1).
pub const NAME_OVERHEAD: u64 = 1;
/// Tokens that prime the assistant's reply, once per request (OpenAI's documented 3).
pub const REPLY_PRIMING: u64 = 3;
/// One image with `detail = "low"`: OpenAI's documented flat price.
pub const IMAGE_LOW_DETAIL_TOKENS: u64 = 85;
/// One image at any other detail. Its real cost depends on its size, which is not
/// known without fetching and decoding it; this is OpenAI's documented price of a
/// 1024×1024 image in high detail (85 + 4 tiles × 170).
pub const IMAGE_HIGH_DETAIL_TOKENS: u64 = 765;
/// One audio clip. Its real cost depends on its duration, which is not known without
/// decoding it; a flat count keeps the estimate from being zero.
pub const AUDIO_TOKENS: u64 = 100;
/// One document (a PDF, say). Providers bill a PDF by its pages (text and an image
/// of each), which is not known without parsing it; a flat count of about one
/// page keeps the estimate from being zero.
pub const FILE_TOKENS: u64 = 1_500;

/// Prompt tokens of a chat request, following OpenAI's documented accounting: each
/// message's text, name, tool-call names and arguments, tool-call id and refusal,
/// plus [`MESSAGE_OVERHEAD`] per message (and [`NAME_OVERHEAD`] per name), flat
/// counts for images and audio, each tool definition as JSON, and
/// [`REPLY_PRIMING`]. A text prompt (`text_prompt`) counts its prompts' and
/// suffix's text alone: no chat framing reaches the model.
pub fn chat_prompt(req: &ChatRequest) -> u64 {
    match &req.text_prompt {
        Some(p) => {
            let suffix = p.suffix.as_deref().map_or(0, count);
            p.prompts.iter().map(|t| count(t) + suffix).sum()
        }
        None => prompt_tokens(&req.messages, &req.tools),
    }
}

/// The prompt tokens one choice reads, what a context window must hold besides
/// the answer: the whole chat, or the longest text prompt with its suffix (each
/// text prompt is completed on its own).
pub fn context_prompt(req: &ChatRequest) -> u64 {
    match &req.text_prompt {
        Some(p) => {
            let suffix = p.suffix.as_deref().map_or(0, count);
            p.prompts.iter().map(|t| count(t)).max().unwrap_or(0) + suffix
        }
        None => prompt_tokens(&req.messages, &req.tools),
    }
}

/// How many choices a request produces: `n` (at least one) for each text prompt,
/// or `n` for a chat. A text completion's `best_of` (a provider option: the
/// server generates that many and returns the best `n`, billing them all)
/// counts when larger, so what is reserved covers what is billed.
pub fn choices(req: &ChatRequest) -> u64 {
    let best_of = req
        .provider_options
        .as_ref()
        .and_then(|o| o.fields.get("best_of"))
        .and_then(|v| match v.kind {
            Some(prost_types::value::Kind::NumberValue(n)) if n >= 1.0 => Some(n.min(1e6) as u64),
            _ => None,
        })
        .filter(|_| req.text_prompt.is_some());
    let n = u64::from(req.n.unwrap_or(1).max(1)).max(best_of.unwrap_or(0));
    match &req.text_prompt {
        Some(p) => n.saturating_mul(to_u64(p.prompts.len().max(1))),
        None => n,
    }
}

fn prompt_tokens(messages: &[Message], tools: &[Tool]) -> u64 {
    let messages: u64 = messages.iter().map(message_tokens).sum();
    let tools: u64 = tools
        .iter()
        .filter_map(|t| t.function.as_ref())
        .map(|f| count(&function_json(f)))
        .sum();
    messages + tools + REPLY_PRIMING
}

fn message_tokens(m: &Message) -> u64 {
    let mut tokens = MESSAGE_OVERHEAD;
    if let Some(name) = &m.name {
        tokens += count(name) + NAME_OVERHEAD;
    }
    for text in [&m.tool_call_id, &m.refusal].into_iter().flatten() {
        tokens += count(text);
    }
    for part in &m.content {
        tokens += match &part.part {
            Some(Part::Text(t)) => count(t),
            Some(Part::ImageUrl(image)) if image.detail == "low" => IMAGE_LOW_DETAIL_TOKENS,
            Some(Part::ImageUrl(_)) => IMAGE_HIGH_DETAIL_TOKENS,
            Some(Part::InputAudio(_)) => AUDIO_TOKENS,
            Some(Part::File(_)) => FILE_TOKENS,
            None => 0,
        };
    }
    for f in m.tool_calls.iter().filter_map(|c| c.function.as_ref()) {
        tokens += count(&f.name) + count(&f.arguments);
    }
    tokens
}

/// A tool definition as the JSON a provider receives.
fn function_json(f: &FunctionDefinition) -> String {
    let mut object = Map::new();
    object.insert("name".into(), Value::String(f.name.clone()));
    if let Some(description) = &f.description {
        object.insert("description".into(), Value::String(description.clone()));
    }
    if let Some(parameters) = &f.parameters {
        object.insert("parameters".into(), struct_json(parameters));
    }
    Value::Object(object).to_string()
}

fn struct_json(s: &prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .iter()
            .map(|(k, v)| (k.clone(), value_json(v)))
            .collect(),
    )
}

fn value_json(v: &prost_types::Value) -> Value {
    match &v.kind {
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::NumberValue(n)) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => struct_json(s),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_json).collect()),
        Some(Kind::NullValue(_)) | None => Value::Null,
    }
}

/// Prompt tokens of an embeddings request: each text input's count, and each
/// token-id input's length (those are tokens already).
pub fn embed_input(req: &EmbedRequest) -> u64 {
    let text: u64 = req.input.iter().map(|s| count(s)).sum();
    let ids: u64 = req.token_input.iter().map(|t| to_u64(t.ids.len())).sum();
    text + ids
}

/// What a prompt's count needs, kept so that the count is taken only if it is
/// needed: when the provider reports no usage, which is rare.
///
/// A caller that hands its request away (to a provider call) but may have to
/// estimate later keeps one of these instead of counting up front. Making one copies
/// the text the count reads (a few hundred ns for a typical prompt, against tens of
/// µs to tokenize it) and leaves out what the count does not read: image and audio
/// payloads (counted flat), token ids (counted by length) and every sampling option.
/// For prompts up to [`DeferredPrompt::LIMIT`] bytes of text, [`count`](Self::count)
/// gives exactly what [`chat_prompt`] or [`embed_input`] gives for the original
/// request; past it only the length of the rest is kept, so neither the copy nor the
/// count grows without bound, and the rest is counted at the rate of the text kept.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredPrompt {
    kept: Kept,
    kept_bytes: u64,
    overflow_bytes: u64,
}

/// An empty prompt, counting zero tokens: what is left where one was taken away.
impl Default for DeferredPrompt {
    fn default() -> Self {
        Self {
            kept: Kept::Texts {
                texts: Vec::new(),
                token_ids: 0,
            },
            kept_bytes: 0,
            overflow_bytes: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kept {
    Chat {
        messages: Vec<Message>,
        tools: Vec<Tool>,
    },
    /// Plain texts (embedding inputs, text prompts) and a count of token ids.
    Texts { texts: Vec<String>, token_ids: u64 },
}

impl DeferredPrompt {
    /// Text kept for a later count, in bytes: 1 MiB, far beyond a normal prompt.
    pub const LIMIT: usize = 1 << 20;

    /// Keeps what [`chat_prompt`] reads of `req`.
    pub fn chat(req: &ChatRequest) -> Self {
        Self::chat_within(req, Self::LIMIT)
    }

    fn chat_within(req: &ChatRequest, limit: usize) -> Self {
        let mut budget = Budget::new(limit);
        if let Some(p) = &req.text_prompt {
            // Each prompt is sent with the suffix, so the suffix counts once per
            // prompt, as in `chat_prompt`.
            let suffix = p.suffix.as_deref().unwrap_or_default();
            let texts = p
                .prompts
                .iter()
                .flat_map(|t| [budget.keep(t), budget.keep(suffix)])
                .filter(|t| !t.is_empty())
                .collect();
            return budget.finish(Kept::Texts {
                texts,
                token_ids: 0,
            });
        }
        let messages = req
            .messages
            .iter()
            .map(|m| Message {
                role: m.role,
                content: m.content.iter().map(|p| budget.part(p)).collect(),
                name: m.name.clone(),
                tool_calls: m
                    .tool_calls
                    .iter()
                    .map(|c| ToolCall {
                        id: String::new(),
                        function: c.function.as_ref().map(|f| FunctionCall {
                            name: f.name.clone(),
                            arguments: budget.keep(&f.arguments),
                        }),
                        ..ToolCall::default()
                    })
                    .collect(),
                tool_call_id: m.tool_call_id.clone(),
                refusal: m.refusal.as_deref().map(|r| budget.keep(r)),
                // Not counted: providers drop earlier turns' reasoning from the
                // prompt they bill.
                reasoning: Vec::new(),
                cache_control: None,
            })
            .collect();
        let tools = req.tools.clone();
        budget.finish(Kept::Chat { messages, tools })
    }

    /// Keeps what [`embed_input`] reads of `req`.
    pub fn embed(req: &EmbedRequest) -> Self {
        Self::embed_within(req, Self::LIMIT)
    }

    fn embed_within(req: &EmbedRequest, limit: usize) -> Self {
        let mut budget = Budget::new(limit);
        let texts = req.input.iter().map(|s| budget.keep(s)).collect();
        let token_ids = req.token_input.iter().map(|t| to_u64(t.ids.len())).sum();
        budget.finish(Kept::Texts { texts, token_ids })
    }

    /// The prompt's token count (tokenizes now: call it only when needed).
    pub fn count(&self) -> u64 {
        let (kept, exact) = match &self.kept {
            Kept::Chat { messages, tools } => (prompt_tokens(messages, tools), 0),
            Kept::Texts { texts, token_ids } => (texts.iter().map(|s| count(s)).sum(), *token_ids),
        };
        let rest = match self.overflow_bytes {
            0 => 0,
            // Nothing kept to take a rate from: the fallback rule.
            rest if self.kept_bytes == 0 => rest.div_ceil(4),
            rest => {
                let scaled =
                    (u128::from(rest) * u128::from(kept)).div_ceil(u128::from(self.kept_bytes));
                u64::try_from(scaled).unwrap_or(u64::MAX)
            }
        };
        kept.saturating_add(exact).saturating_add(rest)
    }
}

/// How much prompt text a [`DeferredPrompt`] still keeps, and what it left out.
struct Budget {
    left: usize,
    kept_bytes: u64,
    overflow_bytes: u64,
}

impl Budget {
    fn new(limit: usize) -> Self {
        Self {
            left: limit,
            kept_bytes: 0,
            overflow_bytes: 0,
        }
    }

    /// As much of `text` as the budget allows, cut on a character boundary. The
    /// rest is measured in bytes, not characters: counting characters would read a
    /// huge prompt in full on the request path.
    fn keep(&mut self, text: &str) -> String {
        let mut cut = text.len().min(self.left);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        // Once a text is cut, nothing more is kept, so the text kept is a prefix.
        self.left = if cut < text.len() { 0 } else { self.left - cut };
        self.kept_bytes += to_u64(cut);
        self.overflow_bytes += to_u64(text.len() - cut);
        text[..cut].to_string()
    }

    /// A content part as the count sees it: text within the budget, and media
    /// without its (possibly megabytes of) data, since media is counted flat.
    fn part(&mut self, part: &ContentPart) -> ContentPart {
        let part = match &part.part {
            Some(Part::Text(t)) => Some(Part::Text(self.keep(t))),
            Some(Part::ImageUrl(image)) => Some(Part::ImageUrl(ImageUrl {
                url: String::new(),
                detail: image.detail.clone(),
            })),
            Some(Part::InputAudio(_)) => Some(Part::InputAudio(InputAudio::default())),
            Some(Part::File(_)) => Some(Part::File(FileData::default())),
            None => None,
        };
        ContentPart { part }
    }

    fn finish(self, kept: Kept) -> DeferredPrompt {
        DeferredPrompt {
            kept,
            kept_bytes: self.kept_bytes,
            overflow_bytes: self.overflow_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use switchyard_proto::types::v1::{Role, TokenIds};

    use super::*;

    fn text(role: Role, t: &str) -> Message {
        Message {
            role: role as i32,
            content: vec![ContentPart {
                part: Some(Part::Text(t.into())),
            }],
            ..Message::default()
        }
    }

    fn image(detail: &str) -> ContentPart {
        ContentPart {
            part: Some(Part::ImageUrl(ImageUrl {
                url: "data:image/png;base64,iVBORw0KGgo=".into(),
                detail: detail.into(),
            })),
        }
    }

    fn weather_tool() -> Tool {
        let schema: prost_types::Struct = prost_types::Struct {
            fields: [(
                "type".to_string(),
                prost_types::Value {
                    kind: Some(Kind::StringValue("object".into())),
                },
            )]
            .into(),
        };
        Tool {
            function: Some(FunctionDefinition {
                name: "get_weather".into(),
                description: Some("Current weather in a city".into()),
                parameters: Some(schema),
                strict: None,
            }),
            ..Tool::default()
        }
    }

    #[test]
    fn a_chat_prompt_costs_more_than_its_text() {
        let req = ChatRequest {
            messages: vec![text(Role::System, "be brief"), text(Role::User, "hi")],
            ..ChatRequest::default()
        };
        let text_alone = count("be brief") + count("hi");
        assert_eq!(text_alone, 3);
        // Text + 4 per message + 3 for the reply.
        assert_eq!(chat_prompt(&req), 3 + 2 * MESSAGE_OVERHEAD + REPLY_PRIMING);
        assert!(chat_prompt(&req) > text_alone);
        assert_eq!(chat_prompt(&ChatRequest::default()), REPLY_PRIMING);
    }

    #[test]
    fn every_role_name_is_one_token() {
        for role in ["system", "user", "assistant", "tool", "developer"] {
            assert_eq!(count(role), 1, "{role}");
        }
    }

    #[test]
    fn names_tool_calls_media_and_tools_all_count() {
        let base = || text(Role::User, "what is this");
        let plain = ChatRequest {
            messages: vec![base()],
            ..ChatRequest::default()
        };
        let mut named = base();
        named.name = Some("alice".into());
        let mut with_images = base();
        with_images
            .content
            .extend([image("low"), image("high"), image("")]);
        let mut with_call = text(Role::Assistant, "");
        with_call.tool_calls.push(ToolCall {
            id: "call_1".into(),
            function: Some(FunctionCall {
                name: "get_weather".into(),
                arguments: r#"{"city":"Paris"}"#.into(),
            }),
            ..ToolCall::default()
        });
        let with = |m: Message| ChatRequest {
            messages: vec![m],
            ..ChatRequest::default()
        };
        let p = chat_prompt(&plain);
        assert_eq!(p, count("what is this") + MESSAGE_OVERHEAD + REPLY_PRIMING);
        assert_eq!(
            chat_prompt(&with(named)),
            p + count("alice") + NAME_OVERHEAD
        );
        assert_eq!(
            chat_prompt(&with(with_images)),
            p + IMAGE_LOW_DETAIL_TOKENS + 2 * IMAGE_HIGH_DETAIL_TOKENS
        );
        assert_eq!(
            chat_prompt(&with(with_call)),
            MESSAGE_OVERHEAD + REPLY_PRIMING + count("get_weather") + count(r#"{"city":"Paris"}"#)
        );
        let mut with_tool = plain.clone();
        with_tool.tools.push(weather_tool());
        let json = serde_json::json!({
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object"},
        });
        assert_eq!(chat_prompt(&with_tool), p + count(&json.to_string()));
        assert!(count(&json.to_string()) > 10);
    }

    #[test]
    fn text_prompts_count_their_text_alone() {
        let req = ChatRequest {
            n: Some(3),
            text_prompt: Some(switchyard_proto::types::v1::TextPrompt {
                prompts: vec!["def add(a, b):".into(), "hello world".into()],
                suffix: Some("    return c".into()),
                echo: false,
            }),
            ..ChatRequest::default()
        };
        let (first, second, suffix) = (
            count("def add(a, b):"),
            count("hello world"),
            count("    return c"),
        );
        assert_eq!(chat_prompt(&req), first + second + 2 * suffix);
        assert_eq!(context_prompt(&req), first.max(second) + suffix);
        assert_eq!(choices(&req), 6);
        let mut best_of = req.clone();
        best_of.provider_options = Some(prost_types::Struct {
            fields: [("best_of".to_string(), prost_types::Value::from(5.0))].into(),
        });
        assert_eq!(choices(&best_of), 10);
        assert_eq!(DeferredPrompt::chat(&req).count(), chat_prompt(&req));
        let chat = ChatRequest {
            n: Some(3),
            ..ChatRequest::default()
        };
        assert_eq!(choices(&chat), 3);
    }

    #[test]
    fn embeddings_count_text_and_take_token_ids_as_they_are() {
        let req = EmbedRequest {
            input: vec!["hello world".into(), "Hello, world!".into()],
            ..EmbedRequest::default()
        };
        assert_eq!(embed_input(&req), 2 + 4);
        let req = EmbedRequest {
            token_input: vec![TokenIds { ids: vec![1, 2, 3] }, TokenIds { ids: vec![9] }],
            ..EmbedRequest::default()
        };
        assert_eq!(embed_input(&req), 4);
    }

    #[test]
    fn a_deferred_prompt_counts_what_the_request_would() {
        let mut user = text(Role::User, "Describe this picture in one line.");
        user.content.push(image("low"));
        user.content.push(ContentPart {
            part: Some(Part::InputAudio(InputAudio {
                data: "UklGRiQAAABXQVZF".into(),
                format: "wav".into(),
            })),
        });
        user.name = Some("bob".into());
        let req = ChatRequest {
            model: "m".into(),
            messages: vec![text(Role::System, "You are terse."), user],
            tools: vec![weather_tool()],
            temperature: Some(0.2),
            ..ChatRequest::default()
        };
        let deferred = DeferredPrompt::chat(&req);
        assert_eq!(deferred.count(), chat_prompt(&req));
        let Kept::Chat { messages, .. } = &deferred.kept else {
            panic!("a chat prompt")
        };
        let kept = format!("{messages:?}");
        assert!(
            !kept.contains("base64") && !kept.contains("UklGR"),
            "media data is dropped"
        );

        let req = EmbedRequest {
            input: vec!["one".into(), "two three".into()],
            token_input: vec![TokenIds { ids: vec![5; 7] }],
            ..EmbedRequest::default()
        };
        assert_eq!(DeferredPrompt::embed(&req).count(), embed_input(&req));
    }

    #[test]
    fn past_its_limit_a_deferred_prompt_extrapolates() {
        let sentence = "The quick brown fox jumps over the lazy dog. ";
        let req = ChatRequest {
            messages: vec![text(Role::User, &sentence.repeat(4))],
            ..ChatRequest::default()
        };
        let exact = chat_prompt(&req);
        let whole = DeferredPrompt::chat_within(&req, sentence.len() * 4);
        assert_eq!(whole.count(), exact);
        let half = DeferredPrompt::chat_within(&req, sentence.len() * 2);
        assert_eq!(half.overflow_bytes, (sentence.len() * 2) as u64);
        // Half the text kept: the other half counted at the same rate, overhead (and
        // the trailing space's token) included, so a little over, never under.
        assert_eq!(exact, 4 * 10 + 1 + MESSAGE_OVERHEAD + REPLY_PRIMING);
        assert_eq!(
            half.count(),
            2 * (2 * 10 + 1 + MESSAGE_OVERHEAD + REPLY_PRIMING)
        );
        // A cut inside a character keeps the text valid.
        let req = EmbedRequest {
            input: vec!["héé".into(), "more".into()],
            ..EmbedRequest::default()
        };
        let cut = DeferredPrompt::embed_within(&req, 2);
        assert_eq!(
            cut.kept,
            Kept::Texts {
                texts: vec!["h".into(), String::new()],
                token_ids: 0
            }
        );
        assert_eq!((cut.kept_bytes, cut.overflow_bytes), (1, 8));
        assert_eq!(cut.count(), 1 + 8);
        assert_eq!(
            DeferredPrompt::embed_within(&req, 0).count(),
            9_u64.div_ceil(4)
        );
    }
}
