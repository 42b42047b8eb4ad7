//! Gemini request bodies built from Switchyard's types: `generateContent` /
//! `streamGenerateContent` (the same body; the URL picks streaming), Google AI
//! `batchEmbedContents` and Vertex AI `predict`.
//!
//! Where OpenAI's shapes and Gemini's differ:
//! - system and developer messages become `systemInstruction` (Gemini has no system
//!   turn), wherever they appear;
//! - assistant turns are role `model`; tool results are `functionResponse` parts of
//!   a `user` turn, consecutive results merged into one turn as Gemini's parallel
//!   calling expects, each naming the function it answers (recovered from the
//!   earlier assistant tool call with the same id);
//! - function-call arguments are a JSON object, not a string;
//! - images: data URLs become `inlineData`, `http(s)://` and `gs://` URLs become
//!   `fileData` references that Google fetches (never fetched here);
//! - JSON schemas (tool parameters, `json_schema` answers) pass through unchanged as
//!   `parametersJsonSchema` / `responseJsonSchema`, Gemini's JSON Schema fields,
//!   instead of a lossy translation to its OpenAPI subset.

use serde_json::{Map, Value, json};
use switchyard_proto::types::v1::content_part::Part;
use switchyard_proto::types::v1::response_format::Format;
use switchyard_proto::types::v1::tool_choice::Choice as ToolChoiceKind;
use switchyard_proto::types::v1::{ChatRequest, ContentPart, EmbedRequest, Message, Role, Tool};

use crate::ProviderError;
use crate::openai_wire::{struct_json, value_json};

/// Google's documented placeholder for a function call whose thought signature was
/// not kept (a history from another provider, or an OpenAI client that drops it):
/// Gemini 3 rejects replayed function calls without a signature.
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// Body keys `provider_options` may not replace: the translated conversation.
const PROTECTED_KEYS: [&str; 2] = ["contents", "systemInstruction"];

/// The Gemini generation of a model name (`gemini-2.5-flash` is 2,
/// `publishers/google/models/gemini-3-pro-preview` is 3); `None` for names that
/// do not say (tuned models, endpoints), which get the older behaviour.
pub fn generation(model: &str) -> Option<u32> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let rest = name.strip_prefix("gemini-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The JSON body of `models/{model}:generateContent` (and of its streaming twin).
pub fn chat_body(model: &str, req: &ChatRequest) -> Result<Value, ProviderError> {
    generate_request(model, req).map(Value::Object)
}

/// [`chat_body`]'s members, for bodies that wrap or trim them (`countTokens`).
pub fn generate_request(
    model: &str,
    req: &ChatRequest,
) -> Result<Map<String, Value>, ProviderError> {
    let gemini3 = generation(model).is_some_and(|g| g >= 3);
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    // Whether the last content is a turn of tool results (more results join it).
    let mut open_results = false;
    for (i, m) in req.messages.iter().enumerate() {
        match Role::try_from(m.role) {
            Ok(Role::System | Role::Developer) => {
                system.extend(system_parts(i, m)?);
                continue;
            }
            Ok(Role::User) => contents.push(json!({"role": "user", "parts": user_parts(i, m)?})),
            Ok(Role::Assistant) => contents.push(json!({
                "role": "model",
                "parts": model_parts(i, m, gemini3)?,
            })),
            Ok(Role::Tool) => {
                let part = function_response(i, m, &req.messages[..i])?;
                let open = contents
                    .last_mut()
                    .filter(|_| open_results)
                    .and_then(|c| c.get_mut("parts"))
                    .and_then(Value::as_array_mut);
                match open {
                    Some(parts) => parts.push(part),
                    None => contents.push(json!({"role": "user", "parts": [part]})),
                }
                open_results = true;
                continue;
            }
            Ok(Role::Unspecified) | Err(_) => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].role"),
                    "must be system, user, assistant, tool or developer",
                ));
            }
        }
        open_results = false;
    }
    if contents.is_empty() {
        return Err(ProviderError::invalid(
            "messages",
            "Gemini needs at least one user, assistant or tool message besides system messages",
        ));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    if !req.tools.is_empty() {
        let declarations = req
            .tools
            .iter()
            .enumerate()
            .map(|(i, t)| function_declaration(i, t))
            .collect::<Result<Vec<_>, _>>()?;
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(config) = tool_config(req) {
        body.insert("toolConfig".into(), config);
    }
    let mut generation_config = generation_config(req, gemini3)?;
    merge_options(
        &mut body,
        &mut generation_config,
        req.provider_options.as_ref(),
    );
    if !generation_config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation_config));
    }
    Ok(body)
}

/// `provider_options`: `generationConfig` fields merge into the translated ones
/// (`topK`, `thinkingConfig`, ...); other keys (`safetySettings`, `cachedContent`,
/// `labels`) are set on the body, except the conversation itself.
fn merge_options(
    body: &mut Map<String, Value>,
    generation_config: &mut Map<String, Value>,
    options: Option<&prost_types::Struct>,
) {
    for (key, value) in options.into_iter().flat_map(|o| o.fields.iter()) {
        match (key.as_str(), value_json(value)) {
            ("generationConfig", Value::Object(fields)) => generation_config.extend(fields),
            (key, _) if PROTECTED_KEYS.contains(&key) => {}
            (key, value) => {
                body.insert(key.to_string(), value);
            }
        }
    }
}

fn generation_config(
    req: &ChatRequest,
    gemini3: bool,
) -> Result<Map<String, Value>, ProviderError> {
    let mut config = Map::new();
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            config.insert(key.into(), v);
        }
    };
    set("temperature", req.temperature.map(Value::from));
    set("topP", req.top_p.map(Value::from));
    set("maxOutputTokens", req.max_tokens.map(Value::from));
    set("candidateCount", req.n.map(Value::from));
    set(
        "stopSequences",
        (!req.stop.is_empty()).then(|| req.stop.clone().into()),
    );
    let seed = req
        .seed
        .map(|s| {
            i32::try_from(s)
                .map_err(|_| ProviderError::invalid("seed", "Gemini takes a 32-bit seed"))
        })
        .transpose()?;
    set("seed", seed.map(Value::from));
    set("presencePenalty", req.presence_penalty.map(Value::from));
    set("frequencyPenalty", req.frequency_penalty.map(Value::from));
    if req.logprobs == Some(true) {
        set("responseLogprobs", Some(true.into()));
        set(
            "logprobs",
            req.top_logprobs.filter(|&n| n > 0).map(Value::from),
        );
    }
    match req.response_format.as_ref().and_then(|f| f.format.as_ref()) {
        None | Some(Format::Text(_)) => {}
        Some(Format::JsonObject(_)) => set("responseMimeType", Some("application/json".into())),
        Some(Format::JsonSchema(s)) => {
            set("responseMimeType", Some("application/json".into()));
            set("responseJsonSchema", s.schema.as_ref().map(struct_json));
        }
    }
    if let Some(effort) = req.reasoning_effort.as_deref() {
        set("thinkingConfig", Some(thinking_config(effort, gemini3)?));
    }
    Ok(config)
}

/// `reasoning_effort` as Gemini's thinking control: a level for Gemini 3 and later,
/// a token budget before (Google's own OpenAI layer uses 1K / 8K / 24K; `none`
/// turns thinking off where the model allows it).
fn thinking_config(effort: &str, gemini3: bool) -> Result<Value, ProviderError> {
    let (level, budget) = match effort {
        "none" => ("minimal", 0),
        "minimal" => ("minimal", 1024),
        "low" => ("low", 1024),
        "medium" => ("medium", 8192),
        "high" => ("high", 24_576),
        _ => {
            return Err(ProviderError::invalid(
                "reasoning_effort",
                "must be none, minimal, low, medium or high",
            ));
        }
    };
    Ok(if gemini3 {
        json!({"thinkingLevel": level})
    } else {
        json!({"thinkingBudget": budget})
    })
}

fn tool_config(req: &ChatRequest) -> Option<Value> {
    let config = match req.tool_choice.as_ref()?.choice.as_ref()? {
        ToolChoiceKind::Mode(mode) => match mode.as_str() {
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            _ => json!({"mode": "AUTO"}),
        },
        ToolChoiceKind::FunctionName(name) => {
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
    };
    Some(json!({"functionCallingConfig": config}))
}

fn function_declaration(i: usize, tool: &Tool) -> Result<Value, ProviderError> {
    let f = tool
        .function
        .as_ref()
        .ok_or_else(|| ProviderError::invalid(format!("tools[{i}].function"), "is required"))?;
    let mut declaration = Map::new();
    declaration.insert("name".into(), f.name.as_str().into());
    if let Some(d) = &f.description {
        declaration.insert("description".into(), d.as_str().into());
    }
    if let Some(p) = &f.parameters {
        declaration.insert("parametersJsonSchema".into(), struct_json(p));
    }
    Ok(Value::Object(declaration))
}

/// System instructions are text only.
fn system_parts(i: usize, m: &Message) -> Result<Vec<Value>, ProviderError> {
    m.content
        .iter()
        .enumerate()
        .filter_map(|(j, p)| match &p.part {
            Some(Part::Text(t)) if t.is_empty() => None,
            Some(Part::Text(t)) => Some(Ok(json!({"text": t}))),
            _ => Some(Err(ProviderError::invalid(
                format!("messages[{i}].content[{j}]"),
                "Gemini system instructions take text only",
            ))),
        })
        .collect()
}

fn user_parts(i: usize, m: &Message) -> Result<Vec<Value>, ProviderError> {
    let parts = content_parts(i, &m.content)?;
    if parts.is_empty() {
        return Err(ProviderError::invalid(
            format!("messages[{i}].content"),
            "is empty; Gemini needs at least one part per turn",
        ));
    }
    Ok(parts)
}

/// An assistant turn: its text (or refusal), then one `functionCall` part per tool
/// call. The turn's thought signature, when it kept Gemini's, goes back where
/// Gemini put it: on the first function call, or on the last part of a turn
/// without calls. On Gemini 3 a first call without one carries
/// [`SKIP_SIGNATURE`], Google's placeholder for history from elsewhere (an
/// OpenAI-format caller, say, whose format has no place for signatures).
fn model_parts(i: usize, m: &Message, gemini3: bool) -> Result<Vec<Value>, ProviderError> {
    let signature = crate::signature::gemini(&m.reasoning);
    let mut parts = content_parts(i, &m.content)?;
    if let Some(refusal) = m.refusal.as_deref().filter(|r| !r.is_empty()) {
        parts.push(json!({"text": refusal}));
    }
    for (j, call) in m.tool_calls.iter().enumerate() {
        let field = |name: &str| format!("messages[{i}].tool_calls[{j}].function.{name}");
        let f = call.function.as_ref().ok_or_else(|| {
            ProviderError::invalid(
                format!("messages[{i}].tool_calls[{j}].function"),
                "is required",
            )
        })?;
        if f.name.is_empty() {
            return Err(ProviderError::invalid(field("name"), "is required"));
        }
        let args = match f.arguments.trim() {
            "" => Value::Object(Map::new()),
            text => match serde_json::from_str::<Value>(text) {
                Ok(args @ Value::Object(_)) => args,
                _ => {
                    return Err(ProviderError::invalid(
                        field("arguments"),
                        "must be a JSON object (Gemini takes arguments as an object)",
                    ));
                }
            },
        };
        let mut part = json!({"functionCall": {"name": f.name, "args": args}});
        if j == 0 {
            match signature {
                Some(signature) => part["thoughtSignature"] = signature.into(),
                None if gemini3 => part["thoughtSignature"] = SKIP_SIGNATURE.into(),
                None => {}
            }
        }
        parts.push(part);
    }
    if m.tool_calls.is_empty()
        && let (Some(signature), Some(last)) = (signature, parts.last_mut())
    {
        last["thoughtSignature"] = signature.into();
    }
    if parts.is_empty() {
        return Err(ProviderError::invalid(
            format!("messages[{i}].content"),
            "is empty; Gemini needs at least one part per turn",
        ));
    }
    Ok(parts)
}

/// A tool result as a `functionResponse` part. Gemini wants a JSON object: a
/// result that is one is passed as is, anything else as `{"result": ...}`.
fn function_response(i: usize, m: &Message, earlier: &[Message]) -> Result<Value, ProviderError> {
    let id = m
        .tool_call_id
        .as_deref()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            ProviderError::invalid(format!("messages[{i}].tool_call_id"), "is required")
        })?;
    let name = earlier
        .iter()
        .rev()
        .filter(|e| e.role == Role::Assistant as i32)
        .flat_map(|e| &e.tool_calls)
        .find(|c| c.id == id)
        .and_then(|c| c.function.as_ref())
        .map(|f| f.name.clone())
        .ok_or_else(|| {
            ProviderError::invalid(
                format!("messages[{i}].tool_call_id"),
                "matches no tool call of an earlier assistant message; Gemini needs the function name",
            )
        })?;
    let mut text = String::new();
    for (j, p) in m.content.iter().enumerate() {
        match &p.part {
            Some(Part::Text(t)) => text.push_str(t),
            _ => {
                return Err(ProviderError::invalid(
                    format!("messages[{i}].content[{j}]"),
                    "Gemini tool results take text only",
                ));
            }
        }
    }
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => json!({"result": other}),
        Err(_) => json!({"result": text}),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

fn content_parts(i: usize, parts: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        let field = || format!("messages[{i}].content[{j}]");
        match &p.part {
            Some(Part::Text(t)) if t.is_empty() => {}
            Some(Part::Text(t)) => out.push(json!({"text": t})),
            Some(Part::ImageUrl(image)) => out.push(image_part(&image.url).map_err(|why| {
                ProviderError::invalid(format!("{}.image_url.url", field()), why)
            })?),
            Some(Part::InputAudio(audio)) => {
                let mime = match audio.format.as_str() {
                    "" => {
                        return Err(ProviderError::invalid(
                            format!("{}.input_audio.format", field()),
                            "is required",
                        ));
                    }
                    "mp3" => "audio/mp3".to_string(),
                    format => format!("audio/{format}"),
                };
                out.push(json!({"inlineData": {"mimeType": mime, "data": audio.data}}));
            }
            // Inline bytes, or a URI for Google to fetch, as images are.
            Some(Part::File(file)) => {
                let mime = if file.media_type.is_empty() {
                    "application/pdf"
                } else {
                    &file.media_type
                };
                out.push(if file.data.is_empty() {
                    json!({"fileData": {"mimeType": mime, "fileUri": file.url}})
                } else {
                    json!({"inlineData": {"mimeType": mime, "data": file.data}})
                });
            }
            None => return Err(ProviderError::invalid(field(), "empty content part")),
        }
    }
    Ok(out)
}

/// An image reference: a base64 data URL inline, a web or Cloud Storage URL as a
/// `fileData` URI for Google to fetch (its MIME type guessed from the extension,
/// omitted when the extension says nothing).
fn image_part(url: &str) -> Result<Value, &'static str> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (header, data) = rest.split_once(',').ok_or("is a data URL without data")?;
        let mime = header
            .strip_suffix(";base64")
            .ok_or("is a data URL that is not base64")?
            .split(';')
            .next()
            .unwrap_or_default();
        if mime.is_empty() || data.is_empty() {
            return Err("is a data URL without a MIME type or data");
        }
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if !matches!(scheme.as_deref(), Some("http" | "https" | "gs")) {
        return Err("must be a data URL or an http, https or gs URL");
    }
    let mut file = json!({"fileUri": url});
    if let Some(mime) = mime_from_extension(url) {
        file["mimeType"] = mime.into();
    }
    Ok(json!({"fileData": file}))
}

fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

/// The texts of an embeddings request; Gemini takes no token ids.
pub fn embed_inputs(req: &EmbedRequest) -> Result<&[String], ProviderError> {
    if !req.token_input.is_empty() {
        return Err(ProviderError::invalid(
            "input",
            "Gemini embeds text only, not token ids",
        ));
    }
    if req.input.is_empty() {
        return Err(ProviderError::invalid("input", "is required"));
    }
    Ok(&req.input)
}

/// The body of Google AI `models/{model}:batchEmbedContents`: one request per
/// input, each naming the model (`models/...`), with `provider_options`
/// (`taskType`, `title`) on each.
pub fn batch_embed_body(model_resource: &str, req: &EmbedRequest) -> Result<Value, ProviderError> {
    let requests = embed_inputs(req)?
        .iter()
        .map(|text| {
            let mut one = Map::new();
            one.insert("model".into(), model_resource.into());
            one.insert("content".into(), json!({"parts": [{"text": text}]}));
            if let Some(d) = req.dimensions {
                one.insert("outputDimensionality".into(), d.into());
            }
            for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
                if !matches!(key.as_str(), "model" | "content") {
                    one.insert(key.clone(), value_json(value));
                }
            }
            Value::Object(one)
        })
        .collect();
    Ok(json!({"requests": Value::Array(requests)}))
}

/// The body of Vertex AI `publishers/google/models/{model}:predict` for `texts`:
/// `provider_options` keys `task_type` and `title` go on each instance, the rest
/// (`autoTruncate`) into `parameters`.
pub fn predict_body(texts: &[String], req: &EmbedRequest) -> Value {
    let mut parameters = Map::new();
    if let Some(d) = req.dimensions {
        parameters.insert("outputDimensionality".into(), d.into());
    }
    let mut instance_options = Map::new();
    for (key, value) in req.provider_options.iter().flat_map(|o| o.fields.iter()) {
        let target = if matches!(key.as_str(), "task_type" | "title") {
            &mut instance_options
        } else {
            &mut parameters
        };
        target.insert(key.clone(), value_json(value));
    }
    let instances: Vec<Value> = texts
        .iter()
        .map(|text| {
            let mut instance = instance_options.clone();
            instance.insert("content".into(), text.as_str().into());
            Value::Object(instance)
        })
        .collect();
    let mut body = json!({"instances": instances});
    if !parameters.is_empty() {
        body["parameters"] = Value::Object(parameters);
    }
    body
}
