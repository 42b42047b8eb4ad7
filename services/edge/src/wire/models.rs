//! `GET /v1/models` and `GET /v1/models/{id}` answers.

use serde::Serialize;

/// The models list; the SDK requires the `{"object":"list","data":[...]}` envelope.
#[derive(Debug, Serialize)]
pub struct ModelList<'a> {
    /// Always "list".
    pub object: &'static str,
    /// The models.
    pub data: Vec<Model<'a>>,
}

/// One model.
#[derive(Debug, Serialize)]
pub struct Model<'a> {
    /// The name callers ask for.
    pub id: &'a str,
    /// Always "model".
    pub object: &'static str,
    /// Unix seconds.
    pub created: i64,
    /// Owner shown to callers.
    pub owned_by: &'a str,
}
