//! Checks that types cannot express: references between sections, addresses, ranges.

use std::collections::HashSet;
use std::net::SocketAddr;

use crate::{Config, ConfigError, ProviderKind};

/// The longest `router.principal_cache_ttl_ms`: the TTL is only a safety net behind
/// auth's change stream, so a longer one would only hide a stuck stream for longer.
const MAX_PRINCIPAL_CACHE_TTL_MS: u64 = 86_400_000;

/// The longest `[[models]] cache_ttl_secs`: a year, far past any useful answer's
/// life, and far from what a clock's arithmetic could overflow.
const MAX_CACHE_TTL_SECS: u64 = 31_536_000;

impl Config {
    /// Validates the whole configuration; the error names the exact key path.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version != 1 {
            return Err(ConfigError::invalid("version", "must be 1"));
        }
        if self.router.outbox_flush_ms == 0 {
            return Err(ConfigError::invalid(
                "router.outbox_flush_ms",
                "must be at least 1",
            ));
        }
        if self.reload.watch_file && self.reload.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                "reload.poll_interval_ms",
                "must be at least 1 when `reload.watch_file` is on",
            ));
        }
        for (key, addr) in [
            ("edge.listen", &self.edge.listen),
            ("router.listen", &self.router.listen),
            ("auth.listen", &self.auth.listen),
            ("metering.listen", &self.metering.listen),
            ("provider_adapter.listen", &self.provider_adapter.listen),
        ] {
            addr.parse::<SocketAddr>().map_err(|_| {
                ConfigError::invalid(key, format!("`{addr}` is not an ip:port address"))
            })?;
        }
        for (key, url) in [
            ("edge.router_url", &self.edge.router_url),
            ("edge.metering_url", &self.edge.metering_url),
            ("edge.auth_url", &self.edge.auth_url),
            ("router.auth_url", &self.router.auth_url),
            ("router.metering_url", &self.router.metering_url),
            ("router.provider_url", &self.router.provider_url),
            ("metering.auth_url", &self.metering.auth_url),
        ] {
            check_url(key, url)?;
        }
        if let Some(addr) = &self.telemetry.metrics_listen
            && addr.parse::<SocketAddr>().is_err()
        {
            return Err(ConfigError::invalid(
                "telemetry.metrics_listen",
                format!("`{addr}` is not an ip:port address"),
            ));
        }
        if let Some(url) = &self.telemetry.otlp_endpoint {
            check_url("telemetry.otlp_endpoint", url)?;
        }
        if let Some(url) = &self.auth.alert_webhook_url {
            check_url("auth.alert_webhook_url", url)?;
        }
        if self.edge.max_body_bytes == 0 {
            return Err(ConfigError::invalid(
                "edge.max_body_bytes",
                "must be positive",
            ));
        }
        if self.router.outbox_max_records == 0 {
            return Err(ConfigError::invalid(
                "router.outbox_max_records",
                "must be positive",
            ));
        }
        if self.router.principal_cache_ttl_ms > MAX_PRINCIPAL_CACHE_TTL_MS {
            return Err(ConfigError::invalid(
                "router.principal_cache_ttl_ms",
                "must be at most 86400000 (one day; 0 disables the cache)",
            ));
        }
        if self.metering.compaction_interval_secs == 0 {
            return Err(ConfigError::invalid(
                "metering.compaction_interval_secs",
                "must be positive",
            ));
        }
        if !(1..=3650).contains(&self.metering.responses_retention_days) {
            return Err(ConfigError::invalid(
                "metering.responses_retention_days",
                "must be between 1 and 3650 (days)",
            ));
        }
        if !(1..=1_048_576).contains(&self.metering.cache_mb) {
            return Err(ConfigError::invalid(
                "metering.cache_mb",
                "must be between 1 and 1048576 (MiB)",
            ));
        }
        if self.router.usage_batch_size == 0 {
            return Err(ConfigError::invalid(
                "router.usage_batch_size",
                "must be positive",
            ));
        }
        if !(1..=10).contains(&self.router.max_attempts) {
            return Err(ConfigError::invalid(
                "router.max_attempts",
                "must be between 1 and 10",
            ));
        }
        if self.router.breaker_failures == 0 {
            return Err(ConfigError::invalid(
                "router.breaker_failures",
                "must be positive",
            ));
        }
        if self.router.breaker_failure_rate_percent > 100 {
            return Err(ConfigError::invalid(
                "router.breaker_failure_rate_percent",
                "must be at most 100",
            ));
        }
        if self.router.breaker_window_ms == 0 {
            return Err(ConfigError::invalid(
                "router.breaker_window_ms",
                "must be positive",
            ));
        }
        if self.router.retry_budget_percent > 100 {
            return Err(ConfigError::invalid(
                "router.retry_budget_percent",
                "must be at most 100",
            ));
        }
        if self.router.retry_backoff_ms > self.router.retry_backoff_max_ms {
            return Err(ConfigError::invalid(
                "router.retry_backoff_ms",
                "must not exceed router.retry_backoff_max_ms",
            ));
        }
        if !(1..=10_000_000).contains(&self.router.estimate_max_tokens) {
            return Err(ConfigError::invalid(
                "router.estimate_max_tokens",
                "must be between 1 and 10000000",
            ));
        }
        for (i, shard) in self.router.quota_shards.iter().enumerate() {
            if !(shard.starts_with("http://") || shard.starts_with("https://")) {
                return Err(ConfigError::invalid(
                    format!("router.quota_shards[{i}]"),
                    "must be an http:// or https:// URL",
                ));
            }
            if self.router.quota_shards[..i].contains(shard) {
                return Err(ConfigError::invalid(
                    format!("router.quota_shards[{i}]"),
                    "lists the same shard twice",
                ));
            }
        }
        if self.admin.token_env.is_empty() {
            return Err(ConfigError::invalid(
                "admin.token_env",
                "must name an environment variable",
            ));
        }
        if let Some(hash) = &self.admin.token_sha256
            && (hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(ConfigError::invalid(
                "admin.token_sha256",
                "must be 64 hex digits (the SHA-256 of the token)",
            ));
        }
        self.validate_providers()?;
        self.validate_models()?;
        self.validate_prices()
    }

    fn validate_providers(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let key = |field: &str| format!("providers[{i}].{field}");
            if p.name.is_empty() {
                return Err(ConfigError::invalid(key("name"), "must not be empty"));
            }
            if !names.insert(p.name.as_str()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("duplicate provider name `{}`", p.name),
                ));
            }
            if let Some(url) = p.base_url.as_deref() {
                check_url(&key("base_url"), url)?;
            }
            let needs = |field: &str, value: &Option<String>| match value {
                Some(v) if !v.is_empty() => Ok(()),
                _ => Err(ConfigError::invalid(
                    key(field),
                    format!("is required for kind {}", p.kind.as_str()),
                )),
            };
            match p.kind {
                ProviderKind::OpenaiCompatible if p.preset.is_none() => {
                    needs("base_url", &p.base_url)?;
                }
                ProviderKind::AzureOpenai => needs("base_url", &p.base_url)?,
                ProviderKind::Bedrock => needs("region", &p.region)?,
                // Vertex AI URLs name the location.
                ProviderKind::Gemini if p.project.is_some() => needs("region", &p.region)?,
                _ => {}
            }
            if let Some(preset) = &p.preset {
                if p.kind != ProviderKind::OpenaiCompatible {
                    return Err(ConfigError::invalid(
                        key("preset"),
                        "is for kind openai-compatible only",
                    ));
                }
                if !crate::PRESETS.iter().any(|(name, _)| name == preset) {
                    let known: Vec<&str> = crate::PRESETS.iter().map(|(n, _)| *n).collect();
                    return Err(ConfigError::invalid(
                        key("preset"),
                        format!("unknown preset `{preset}`; known: {}", known.join(", ")),
                    ));
                }
            }
            if p.kind == ProviderKind::Mock {
                if !(0.0..=1.0).contains(&p.failure_rate) {
                    return Err(ConfigError::invalid(
                        key("failure_rate"),
                        "must be between 0.0 and 1.0",
                    ));
                }
                if p.completion_tokens == 0 {
                    return Err(ConfigError::invalid(
                        key("completion_tokens"),
                        "must be positive",
                    ));
                }
            } else if p.latency_ms != 0 || p.tokens_per_second != 0 || p.failure_rate != 0.0 {
                return Err(ConfigError::invalid(
                    key("kind"),
                    "latency_ms, tokens_per_second and failure_rate are for kind mock only",
                ));
            }
            if p.api_key_env.as_deref() == Some("") {
                return Err(ConfigError::invalid(
                    key("api_key_env"),
                    "must name an environment variable",
                ));
            }
            if let Some(vendor) = &p.vendor {
                check_vendor(&key("vendor"), vendor)?;
            }
        }
        Ok(())
    }

    fn validate_prices(&self) -> Result<(), ConfigError> {
        let mut seen = HashSet::new();
        for (i, p) in self.prices.iter().enumerate() {
            let key = |field: &str| format!("prices[{i}].{field}");
            check_vendor(&key("vendor"), &p.vendor)?;
            if p.model.trim().is_empty() {
                return Err(ConfigError::invalid(key("model"), "must not be empty"));
            }
            if !seen.insert((p.vendor.as_str(), p.model.as_str())) {
                return Err(ConfigError::invalid(
                    key("model"),
                    format!(
                        "duplicate price for vendor `{}` model `{}`",
                        p.vendor, p.model
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_models(&self) -> Result<(), ConfigError> {
        let providers: HashSet<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, m) in self.models.iter().enumerate() {
            let key = |field: &str| format!("models[{i}].{field}");
            if m.name.is_empty() {
                return Err(ConfigError::invalid(key("name"), "must not be empty"));
            }
            if !names.insert(m.name.as_str()) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!("duplicate model name `{}`", m.name),
                ));
            }
            let wildcard = m.name.contains('*');
            if wildcard && (m.name.matches('*').count() > 1 || !m.name.ends_with('*')) {
                return Err(ConfigError::invalid(
                    key("name"),
                    format!(
                        "`{}`: a wildcard name has one `*`, at its end (`openai/*`)",
                        m.name
                    ),
                ));
            }
            let all: HashSet<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
            let mode_of = |name: &str| {
                self.models
                    .iter()
                    .find(|other| other.name == name)
                    .and_then(|other| other.mode)
            };
            let check_fallback = |field: String, name: &str| {
                if let (Some(own), Some(theirs)) = (m.mode, mode_of(name))
                    && own != theirs
                {
                    return Err(ConfigError::invalid(
                        field,
                        format!(
                            "`{name}` has mode = \"{}\"; a model with mode = \"{}\" cannot fall back to it",
                            theirs.as_str(),
                            own.as_str()
                        ),
                    ));
                }
                if name == m.name {
                    Err(ConfigError::invalid(field, "cannot fall back to itself"))
                } else if name.contains('*') {
                    Err(ConfigError::invalid(
                        field,
                        format!("`{name}` is a wildcard; fall back to a named model"),
                    ))
                } else if !all.contains(name) {
                    Err(ConfigError::invalid(
                        field,
                        format!("no model named `{name}` is configured"),
                    ))
                } else {
                    Ok(())
                }
            };
            for (j, f) in m.fallbacks.iter().enumerate() {
                check_fallback(key(&format!("fallbacks[{j}]")), f)?;
            }
            if let Some(f) = &m.context_fallback {
                check_fallback(key("context_fallback"), f)?;
            }
            if let Some(f) = &m.content_filter_fallback {
                check_fallback(key("content_filter_fallback"), f)?;
            }
            for (field, value) in [
                ("timeouts.first_token_ms", m.timeouts.first_token_ms),
                ("timeouts.stall_ms", m.timeouts.stall_ms),
                ("timeouts.total_ms", m.timeouts.total_ms),
                ("hedge_after_ms", m.hedge_after_ms),
                ("cache_ttl_secs", m.cache_ttl_secs),
            ] {
                if value == Some(0) {
                    return Err(ConfigError::invalid(key(field), "must be positive"));
                }
            }
            if m.cache_ttl_secs > Some(MAX_CACHE_TTL_SECS) {
                return Err(ConfigError::invalid(
                    key("cache_ttl_secs"),
                    "must be at most 31536000 (one year)",
                ));
            }
            if m.deployments.is_empty() {
                return Err(ConfigError::invalid(
                    key("deployments"),
                    "needs at least one deployment",
                ));
            }
            if m.deployments.iter().all(|d| d.weight == 0) {
                return Err(ConfigError::invalid(
                    key("deployments"),
                    "at least one deployment needs a positive weight",
                ));
            }
            for (j, d) in m.deployments.iter().enumerate() {
                if !providers.contains(d.provider.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("models[{i}].deployments[{j}].provider"),
                        format!("no [[providers]] entry is named `{}`", d.provider),
                    ));
                }
                if d.model.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("models[{i}].deployments[{j}].model"),
                        "must not be empty",
                    ));
                }
                if d.model.contains('*') && (!wildcard || d.model.matches('*').count() > 1) {
                    return Err(ConfigError::invalid(
                        format!("models[{i}].deployments[{j}].model"),
                        "may hold one `*` (the part of the requested name the model's `*` matched), and only under a wildcard model name",
                    ));
                }
                if d.context_window == Some(0) {
                    return Err(ConfigError::invalid(
                        format!("models[{i}].deployments[{j}].context_window"),
                        "must be positive",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Vendors are price-table keys: lowercase so `OpenAI` and `openai` cannot become
/// two vendors with different prices.
fn check_vendor(key: &str, vendor: &str) -> Result<(), ConfigError> {
    if vendor.is_empty() {
        return Err(ConfigError::invalid(key, "must not be empty"));
    }
    if !vendor
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(ConfigError::invalid(
            key,
            format!("`{vendor}` must be lowercase letters, digits, `-`, `_` or `.`"),
        ));
    }
    Ok(())
}

fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            ConfigError::invalid(key, format!("`{url}` must start with http:// or https://"))
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError::invalid(key, format!("`{url}` has no host")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{MicrosPerMillion, ModelMode, load_str};

    fn err_of(text: &str) -> String {
        load_str(text).unwrap_err().to_string()
    }

    /// A config with one mock provider `p`, for models to be added to.
    const BASE: &str = "version = 1\n[[providers]]\nname = \"p\"\nkind = \"mock\"\n";

    /// A `[[models]]` entry on `p`, with `extra` lines before its deployments.
    fn model(name: &str, extra: &str) -> String {
        format!(
            "[[models]]\nname = \"{name}\"\n{extra}deployments = [{{ provider = \"p\", model = \"x\" }}]\n"
        )
    }

    #[test]
    fn the_alert_webhook_is_an_http_url() {
        let e = err_of(&format!(
            "{BASE}[auth]\nalert_webhook_url = \"hooks.example.com\"\n"
        ));
        assert!(e.contains("auth.alert_webhook_url"), "{e}");
        let c = load_str(&format!(
            "{BASE}[auth]\nalert_webhook_url = \"https://hooks.example.com/x\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.auth.alert_webhook_url.as_deref(),
            Some("https://hooks.example.com/x")
        );
    }

    #[test]
    fn cache_ttls_are_positive_and_at_most_a_year() {
        let e = err_of(&format!("{BASE}{}", model("a", "cache_ttl_secs = 0\n")));
        assert!(e.contains("models[0].cache_ttl_secs"), "{e}");
        let e = err_of(&format!(
            "{BASE}{}",
            model("a", "cache_ttl_secs = 31536001\n")
        ));
        assert!(
            e.contains("models[0].cache_ttl_secs") && e.contains("one year"),
            "{e}"
        );
        let c = load_str(&format!("{BASE}{}", model("a", "cache_ttl_secs = 300\n"))).unwrap();
        assert_eq!(c.models[0].cache_ttl_secs, Some(300));
        assert_eq!(c.router.cache_max_bytes, 64 * 1024 * 1024);
    }

    #[test]
    fn a_zero_hedge_delay_is_refused() {
        let e = err_of(&format!(
            "{BASE}{}{}{}",
            model("a", ""),
            model("b", ""),
            model("c", "hedge_after_ms = 0\n")
        ));
        assert!(e.contains("models[2].hedge_after_ms"), "{e}");
        let c = load_str(&format!("{BASE}{}", model("a", "hedge_after_ms = 250\n"))).unwrap();
        assert_eq!(c.models[0].hedge_after_ms, Some(250));
    }

    #[test]
    fn model_modes_parse_and_fallbacks_keep_to_their_mode() {
        let c = load_str(&format!(
            "{BASE}{}{}{}",
            model("chat", "mode = \"chat\"\nfallbacks = [\"any\"]\n"),
            model("embed", "mode = \"embeddings\"\n"),
            model("any", "")
        ))
        .unwrap();
        let modes: Vec<_> = c.models.iter().map(|m| m.mode).collect();
        assert_eq!(
            modes,
            [Some(ModelMode::Chat), Some(ModelMode::Embeddings), None]
        );
        let e = err_of(&format!("{BASE}{}", model("m", "mode = \"completion\"\n")));
        assert!(
            e.contains("models[0].mode") && e.contains("embeddings"),
            "{e}"
        );
        let e = err_of(&format!(
            "{BASE}{}{}",
            model("chat", "mode = \"chat\"\ncontext_fallback = \"embed\"\n"),
            model("embed", "mode = \"embeddings\"\n")
        ));
        assert!(e.contains("models[0].context_fallback"), "{e}");
        assert!(e.contains("mode = \"embeddings\""), "{e}");
    }

    #[test]
    fn reports_exact_key_paths() {
        let base = "version = 1\n[[providers]]\nname = \"p\"\nkind = \"mock\"\n";
        assert!(err_of("version = 2").contains("`version`"));
        let e = err_of(&format!(
            "{base}[[models]]\nname = \"m\"\ndeployments = [{{ provider = \"nope\", model = \"x\" }}]\n"
        ));
        assert!(e.contains("models[0].deployments[0].provider"), "{e}");
        let e = err_of(&format!("{base}[router]\nlisten = \"localhost\"\n"));
        assert!(e.contains("router.listen"), "{e}");
        let e = err_of("version = 1\n[router]\nprincipal_cache_ttl_ms = 86400001\n");
        assert!(e.contains("router.principal_cache_ttl_ms"), "{e}");
        let e = err_of("version = 1\n[router]\nbreaker_failure_rate_percent = 101\n");
        assert!(e.contains("router.breaker_failure_rate_percent"), "{e}");
        let e = err_of("version = 1\n[metering]\ncache_mb = 0\n");
        assert!(e.contains("metering.cache_mb"), "{e}");
        let e = err_of("version = 1\n[router]\nbreaker_window_ms = 0\n");
        assert!(e.contains("router.breaker_window_ms"), "{e}");
        let e = err_of("version = 1\n[[providers]]\nname = \"o\"\nkind = \"openai-compatible\"\n");
        assert!(e.contains("providers[0].base_url"), "{e}");
        let e = err_of(&format!("{base}failure_rate = 2.0\n"));
        assert!(e.contains("providers[0].failure_rate"), "{e}");
        let e = err_of(&format!(
            "{base}[[models]]\nname = \"m\"\ndeployments = [{{ provider = \"p\", model = \"x\", price = {{ input_per_million = \"0.1234567\" }} }}]\n"
        ));
        assert!(
            e.contains("models[0].deployments[0].price.input_per_million"),
            "{e}"
        );
    }

    #[test]
    fn vendor_and_price_overrides_parse() {
        let c = load_str(
            r#"
version = 1
[[providers]]
name = "oai"
kind = "openai-compatible"
base_url = "https://api.openai.com/v1"
vendor = "openai"
[[models]]
name = "m"
deployments = [{ provider = "oai", model = "gpt-4o-mini", price = { input_per_million = "3", cache_write_per_million = "3.75" } }]
[[prices]]
vendor = "openai"
model = "gpt-4o-mini"
input_per_million = "0.12"
output_per_million = 0.5
cached_input_per_million = "0.06"
[[prices]]
vendor = "acme"
model = "acme-1"
input_per_million = 1
output_per_million = 2
cache_write_per_million = "1.25"
"#,
        )
        .unwrap();
        assert_eq!(c.providers[0].vendor.as_deref(), Some("openai"));
        let price = c.models[0].deployments[0].price.unwrap();
        assert_eq!(
            price.cache_write_per_million,
            Some(MicrosPerMillion(3_750_000))
        );
        assert_eq!(c.prices.len(), 2);
        assert_eq!(c.prices[0].input_per_million, MicrosPerMillion(120_000));
        assert_eq!(c.prices[0].output_per_million, MicrosPerMillion(500_000));
        assert_eq!(c.prices[0].cache_write_per_million, None);
        assert_eq!(
            c.prices[1].cache_write_per_million,
            Some(MicrosPerMillion(1_250_000))
        );
    }

    #[test]
    fn price_and_vendor_errors_name_key_paths() {
        let base = "version = 1\n[[providers]]\nname = \"p\"\nkind = \"mock\"\n";
        let e = err_of(&format!("{base}vendor = \"OpenAI\"\n"));
        assert!(e.contains("providers[0].vendor"), "{e}");
        let e = err_of(&format!("{base}vendor = \"\"\n"));
        assert!(e.contains("providers[0].vendor"), "{e}");
        let price = |vendor: &str, model: &str| {
            format!(
                "[[prices]]\nvendor = \"{vendor}\"\nmodel = \"{model}\"\ninput_per_million = \"1\"\noutput_per_million = \"2\"\n"
            )
        };
        let e = err_of(&format!("{base}{}", price("", "m")));
        assert!(e.contains("prices[0].vendor"), "{e}");
        let e = err_of(&format!("{base}{}", price("openai", " ")));
        assert!(e.contains("prices[0].model"), "{e}");
        let e = err_of(&format!(
            "{base}{}{}",
            price("openai", "m"),
            price("openai", "m")
        ));
        assert!(e.contains("prices[1].model"), "{e}");
        // Required fields, unknown keys and bad prices name their paths too.
        let e = err_of(&format!(
            "{base}[[prices]]\nvendor = \"openai\"\nmodel = \"m\"\ninput_per_million = \"1\"\n"
        ));
        assert!(
            e.contains("prices[0]") && e.contains("output_per_million"),
            "{e}"
        );
        let e = err_of(&format!(
            "{base}{}cached_input = \"1\"\n",
            price("openai", "m")
        ));
        assert!(e.contains("prices[0]") && e.contains("cached_input"), "{e}");
        let e = err_of(&format!(
            "{base}{}cache_write_per_million = \"0.0000001\"\n",
            price("openai", "m")
        ));
        assert!(e.contains("prices[0].cache_write_per_million"), "{e}");
    }
}
