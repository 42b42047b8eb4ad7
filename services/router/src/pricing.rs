//! Which price each deployment bills at, fixed at start-up.
//!
//! A deployment's own `price` wins; otherwise the shipped price table (with the
//! config's `[[prices]]` overrides) is looked up by the provider's vendor and the
//! deployment's model. Self-hosted providers are free. A deployment of a paid vendor
//! whose price is unknown stops start-up, naming the key: Switchyard never bills a
//! paid model at zero by accident. The arithmetic lives in `switchyard_pricing`.

use switchyard_config::Config;
use switchyard_pricing::{Price, PriceTable, SELF_HOSTED, vendor_for};

use crate::RouterError;

/// The price of every deployment, in config order (`[models][deployments]`), and the
/// version string recorded with each usage record.
pub struct ResolvedPrices {
    /// `prices[i][j]` is the price of `models[i].deployments[j]` (a placeholder
    /// for wildcard deployments priced per request: see `passthrough`).
    pub prices: Vec<Vec<Price>>,
    /// `passthrough[i][j]`: the vendor whose table prices each model a wildcard
    /// deployment (`model = "*"`, no `price`) passes through, looked up per
    /// request in `table`.
    pub passthrough: Vec<Vec<Option<String>>>,
    /// The price table with the config's overrides.
    pub table: PriceTable,
    /// The table version, plus a hash of deployment-level prices when any are set.
    pub version: String,
}

/// Resolves every deployment's price; see the module docs.
pub fn resolve(config: &Config) -> Result<ResolvedPrices, RouterError> {
    let table = PriceTable::shipped()
        .map_err(|e| RouterError::Pricing {
            key: "prices".into(),
            message: format!("the shipped price table does not load: {e}"),
        })?
        .with_overrides(&config.prices);
    let mut explicit = Fnv::default();
    let mut any_explicit = false;
    let mut prices = Vec::with_capacity(config.models.len());
    let mut passthrough = Vec::with_capacity(config.models.len());
    for (i, model) in config.models.iter().enumerate() {
        let mut row = Vec::with_capacity(model.deployments.len());
        let mut vendors = vec![None; model.deployments.len()];
        for (j, d) in model.deployments.iter().enumerate() {
            let price = if let Some(p) = &d.price {
                any_explicit = true;
                explicit.feed(format!("{i}/{j}:{}:{}:{:?}\n", d.provider, d.model, p).as_bytes());
                Price::from(p)
            } else {
                let provider = config.providers.iter().find(|p| p.name == d.provider);
                let vendor = provider.map_or_else(
                    || SELF_HOSTED.to_string(),
                    |p| {
                        vendor_for(
                            p.kind,
                            p.vendor.as_deref(),
                            p.effective_base_url().as_deref(),
                        )
                    },
                );
                if d.model.contains('*') {
                    // Priced per request, by the model the name passes through.
                    vendors[j] = Some(vendor);
                    row.push(Price::default());
                    continue;
                }
                table
                    .lookup(&vendor, &d.model)
                    .ok_or_else(|| RouterError::Pricing {
                        key: format!("models[{i}].deployments[{j}].price"),
                        message: format!(
                            "no price known for {vendor} model `{}` (price table {}); set `price` \
                         on the deployment, add a [[prices]] entry, or set the provider's \
                         `vendor = \"{SELF_HOSTED}\"` if it is free",
                            d.model,
                            table.version()
                        ),
                    })?
            };
            row.push(price);
        }
        prices.push(row);
        passthrough.push(vendors);
    }
    let version = if any_explicit {
        format!("{}+dep-{:016x}", table.version(), explicit.0)
    } else {
        table.version().to_string()
    };
    Ok(ResolvedPrices {
        prices,
        passthrough,
        table,
        version,
    })
}

/// FNV-1a: a stable hash for the version string (not for security).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn feed(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Result<Config, switchyard_config::ConfigError> {
        switchyard_config::load_str(&format!(
            r#"
version = 1
[[providers]]
name = "openai"
kind = "openai-compatible"
base_url = "https://api.openai.com/v1"
[[providers]]
name = "local"
kind = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"
{extra}
"#
        ))
    }

    #[test]
    fn table_explicit_and_self_hosted_prices() {
        let c = config(
            r#"
[[models]]
name = "a"
deployments = [{ provider = "openai", model = "gpt-4o-mini" }, { provider = "local", model = "llama" }]
[[models]]
name = "b"
deployments = [{ provider = "openai", model = "gpt-4o-mini", price = { input_per_million = "9", output_per_million = "9" } }]
"#,
        )
        .unwrap();
        let r = resolve(&c).unwrap();
        assert_eq!(
            r.prices[0][0].input, 150_000,
            "shipped gpt-4o-mini input price"
        );
        assert_eq!(r.prices[0][1], Price::ZERO, "self-hosted is free");
        assert_eq!(r.prices[1][0].input, 9_000_000);
        assert!(r.version.contains("+dep-"), "{}", r.version);
    }

    #[test]
    fn unknown_paid_model_stops_start_up_with_the_key() {
        let c = config(
            r#"
[[models]]
name = "a"
deployments = [{ provider = "openai", model = "gpt-that-does-not-exist" }]
"#,
        )
        .unwrap();
        let err = resolve(&c).err().unwrap().to_string();
        assert!(err.contains("models[0].deployments[0].price"), "{err}");
        // A [[prices]] entry fixes it and changes the version.
        let c = config(
            r#"
[[prices]]
vendor = "openai"
model = "gpt-that-does-not-exist"
input_per_million = "1"
output_per_million = "2"
[[models]]
name = "a"
deployments = [{ provider = "openai", model = "gpt-that-does-not-exist" }]
"#,
        )
        .unwrap();
        let r = resolve(&c).unwrap();
        assert_eq!(r.prices[0][0].output, 2_000_000);
        assert!(r.version.contains("+cfg-"), "{}", r.version);
    }
}
