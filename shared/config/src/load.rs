//! Reading the file, applying environment overrides, and deserializing with paths.

use toml::{Table, Value};

use crate::{Config, ConfigError};

/// Prefix of environment overrides: `SWITCHYARD__ROUTER__LISTEN=0.0.0.0:50051`.
pub const ENV_PREFIX: &str = "SWITCHYARD__";

/// Reads, overrides from the process environment, parses and validates a file.
pub fn load_file(path: &str) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_string(),
        source,
    })?;
    load_str_with_env(&text, std::env::vars())
}

/// Parses and validates TOML text without environment overrides.
pub fn load_str(text: &str) -> Result<Config, ConfigError> {
    load_str_with_env(text, std::iter::empty())
}

/// Parses TOML text, applies the `SWITCHYARD__` variables among `vars`, validates.
pub fn load_str_with_env(
    text: &str,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax(e.to_string()))?;
    for (var, value) in vars {
        if let Some(path) = var.strip_prefix(ENV_PREFIX) {
            apply_override(&mut table, &var, path, &value)?;
        }
    }
    let config: Config =
        serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| ConfigError::Type {
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    config.validate()?;
    Ok(config)
}

/// Sets `a__b__0__c` in the table; the value is read as a TOML literal when it is
/// one (`5000`, `true`, `["a"]`) and as a string otherwise.
fn apply_override(table: &mut Table, var: &str, path: &str, raw: &str) -> Result<(), ConfigError> {
    let segments: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
    if segments.iter().any(String::is_empty) {
        return Err(ConfigError::Env {
            var: var.to_string(),
            message: "empty key segment".into(),
        });
    }
    let mut root = Value::Table(std::mem::take(table));
    let result = set_path(&mut root, &segments, parse_literal(raw));
    if let Value::Table(t) = root {
        *table = t;
    }
    result.map_err(|message| ConfigError::Env {
        var: var.to_string(),
        message: message.to_string(),
    })
}

fn set_path(node: &mut Value, segments: &[String], value: Value) -> Result<(), &'static str> {
    let Some((seg, rest)) = segments.split_first() else {
        *node = value;
        return Ok(());
    };
    let child = match node {
        Value::Table(t) => t.entry(seg.clone()).or_insert_with(|| {
            if rest.first().is_some_and(|s| s.parse::<usize>().is_ok()) {
                Value::Array(Vec::new())
            } else {
                Value::Table(Table::new())
            }
        }),
        Value::Array(items) => {
            let idx: usize = seg.parse().map_err(|_| "expected an array index")?;
            items.get_mut(idx).ok_or("array index out of range")?
        }
        _ => return Err("cannot set a key inside a plain value"),
    };
    set_path(child, rest, value)
}

fn parse_literal(raw: &str) -> Value {
    let probe = format!("v = {raw}");
    match probe.parse::<Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
version = 1
[[providers]]
name = "mock"
kind = "mock"
[[models]]
name = "m"
deployments = [{ provider = "mock", model = "mock-1" }]
"#;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = load_str(MINIMAL).unwrap();
        assert_eq!(c.edge.listen, "127.0.0.1:8080");
        assert_eq!(c.models[0].deployments[0].weight, 1);
    }

    #[test]
    fn unknown_key_names_its_path() {
        let text = MINIMAL.replace("kind = \"mock\"", "kind = \"mock\"\nbase_ur = \"x\"");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers[0]"), "{err}");
        assert!(err.contains("base_ur"), "{err}");
    }

    #[test]
    fn wrong_type_names_its_path() {
        let text = format!("{MINIMAL}\n[edge]\nmax_body_bytes = \"big\"\n");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("edge.max_body_bytes"), "{err}");
    }

    #[test]
    fn bad_kind_names_its_path() {
        let text = MINIMAL.replace("kind = \"mock\"", "kind = \"carrier-pigeon\"");
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains("providers[0].kind"), "{err}");
    }

    #[test]
    fn env_overrides_nested_and_indexed_keys() {
        let c = load_str_with_env(
            MINIMAL,
            vars(&[
                ("SWITCHYARD__ROUTER__LISTEN", "0.0.0.0:1"),
                ("SWITCHYARD__EDGE__MAX_BODY_BYTES", "10"),
                ("SWITCHYARD__PROVIDERS__0__LATENCY_MS", "7"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.router.listen, "0.0.0.0:1");
        assert_eq!(c.edge.max_body_bytes, 10);
        assert_eq!(c.providers[0].latency_ms, 7);
    }

    #[test]
    fn env_override_out_of_range_is_an_error() {
        let err = load_str_with_env(MINIMAL, vars(&[("SWITCHYARD__PROVIDERS__5__NAME", "x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("SWITCHYARD__PROVIDERS__5__NAME"), "{err}");
    }

    #[test]
    fn syntax_error_is_reported() {
        assert!(matches!(
            load_str("version = "),
            Err(ConfigError::Syntax(_))
        ));
    }
}
