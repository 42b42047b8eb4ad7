//! Whose reasoning signature is whose. A signature goes back only to the provider
//! that wrote it: Claude's (Anthropic and Bedrock share them) travel as they came;
//! any other provider's carry its name and a colon (`gemini:`), which no Claude
//! signature (base64) can start with. Callers see them as opaque strings either
//! way, and send them back unchanged.

use switchyard_proto::types::v1::Reasoning;

/// The mark of a Gemini thought signature.
pub const GEMINI: &str = switchyard_proto::conventions::GEMINI_SIGNATURE;

/// Whether `r` is Claude's signed reasoning, which Anthropic and Bedrock take back.
pub fn is_claude(r: &Reasoning) -> bool {
    !r.signature.is_empty() && !r.signature.starts_with(GEMINI)
}

/// A Gemini thought signature as it travels.
pub fn from_gemini(signature: &str) -> String {
    format!("{GEMINI}{signature}")
}

/// The first Gemini thought signature among a turn's reasoning, as Gemini sent it.
pub fn gemini(reasoning: &[Reasoning]) -> Option<&str> {
    reasoning
        .iter()
        .find_map(|r| r.signature.strip_prefix(GEMINI))
}
