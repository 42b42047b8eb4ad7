//! The price table: list prices shipped in the binary, replaced or extended by
//! config `[[prices]]`.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use switchyard_config::{MicrosPerMillion, PriceOverride};

use crate::{Price, PricingError, SELF_HOSTED};

/// The shipped table; `cargo test` proves it parses.
const SHIPPED: &str = include_str!("../prices.toml");

/// Prices by vendor and model, with the date they were checked.
///
/// Lookups are by the exact model id or one of its aliases (dated snapshots), so an
/// override of a model also reprices its aliases unless an alias is overridden
/// itself. Vendor names are case-insensitive; model ids are exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    vendors: HashMap<String, VendorPrices>,
    base_version: String,
    /// FNV-1a state over every override applied, `None` before the first one.
    override_digest: Option<u64>,
    version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct VendorPrices {
    models: HashMap<String, Price>,
    /// Alias → the model id it bills as.
    aliases: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    version: String,
    #[serde(default)]
    price: Vec<EntryFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFile {
    vendor: String,
    model: String,
    input_per_million: MicrosPerMillion,
    output_per_million: MicrosPerMillion,
    cached_input_per_million: Option<MicrosPerMillion>,
    cache_write_per_million: Option<MicrosPerMillion>,
    #[serde(default)]
    aliases: Vec<String>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

impl PriceTable {
    /// The table compiled into this binary (`shared/pricing/prices.toml`).
    pub fn shipped() -> Result<Self, PricingError> {
        Self::parse(SHIPPED)
    }

    /// Parses a table in the `prices.toml` format: `version = "..."` and
    /// `[[price]]` entries. Duplicate models or aliases within a vendor are errors.
    pub fn parse(text: &str) -> Result<Self, PricingError> {
        let file: TableFile =
            toml::from_str(text).map_err(|e| PricingError::Syntax(e.to_string()))?;
        if file.version.trim().is_empty() {
            return Err(invalid("version", "must not be empty"));
        }
        let mut vendors: HashMap<String, VendorPrices> = HashMap::new();
        for entry in file.price {
            let name = format!("{}/{}", entry.vendor, entry.model);
            if entry.vendor.is_empty() || entry.vendor != entry.vendor.to_ascii_lowercase() {
                return Err(invalid(&name, "vendor must be non-empty and lowercase"));
            }
            if entry.model.trim().is_empty() {
                return Err(invalid(&name, "model must not be empty"));
            }
            let prices = vendors.entry(entry.vendor.clone()).or_default();
            if prices.models.contains_key(&entry.model) || prices.aliases.contains_key(&entry.model)
            {
                return Err(invalid(&name, "model is listed twice"));
            }
            let price = Price {
                input: entry.input_per_million.0,
                output: entry.output_per_million.0,
                cached_input: entry.cached_input_per_million.map(|m| m.0),
                cache_write: entry.cache_write_per_million.map(|m| m.0),
            };
            prices.models.insert(entry.model.clone(), price);
            for alias in entry.aliases {
                if alias.trim().is_empty()
                    || prices.models.contains_key(&alias)
                    || prices.aliases.contains_key(&alias)
                {
                    return Err(invalid(
                        &name,
                        &format!("alias `{alias}` is empty or names another entry"),
                    ));
                }
                prices.aliases.insert(alias, entry.model.clone());
            }
        }
        Ok(Self {
            vendors,
            version: file.version.clone(),
            base_version: file.version,
            override_digest: None,
        })
    }

    /// This table with config `[[prices]]` applied, in order: an entry for an
    /// existing vendor and model (or alias) replaces its price, any other entry adds
    /// one. Any non-empty set of overrides changes [`Self::version`], so usage
    /// records say which prices produced their cost.
    pub fn with_overrides(mut self, overrides: &[PriceOverride]) -> Self {
        if overrides.is_empty() {
            return self;
        }
        let mut digest = self.override_digest.unwrap_or(FNV_OFFSET);
        for o in overrides {
            let price = Price::from(o);
            // A canonical rendering: stable across builds and platforms.
            let line = format!(
                "{}|{}|{}|{}|{:?}|{:?}\n",
                o.vendor, o.model, price.input, price.output, price.cached_input, price.cache_write
            );
            for b in line.bytes() {
                digest = (digest ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
            self.vendors
                .entry(o.vendor.to_ascii_lowercase())
                .or_default()
                .models
                .insert(o.model.clone(), price);
        }
        self.override_digest = Some(digest);
        self.version = format!("{}+cfg-{digest:016x}", self.base_version);
        self
    }

    /// The price of `model` billed by `vendor`: the exact model id, else an alias.
    /// Vendors `self-hosted` and `mock` cost zero unless the table prices them;
    /// `None` means the table does not know the model (the caller decides whether
    /// that is free, an estimate or an error).
    pub fn lookup(&self, vendor: &str, model: &str) -> Option<Price> {
        let vendor = lowercase(vendor);
        let found = self.vendors.get(vendor.as_ref()).and_then(|v| {
            v.models.get(model).copied().or_else(|| {
                v.aliases
                    .get(model)
                    .and_then(|canonical| v.models.get(canonical))
                    .copied()
            })
        });
        match found {
            Some(price) => Some(price),
            None if vendor == SELF_HOSTED || vendor == "mock" => Some(Price::ZERO),
            None => None,
        }
    }

    /// The table's version, recorded with each usage record: the date of the shipped
    /// prices (`2026-11-01`), plus `+cfg-<16 hex digits>` (an FNV-1a digest of the
    /// overrides) when config overrides were applied.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Every priced `(vendor, model, price)`, aliases excluded, in no fixed order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Price)> + '_ {
        self.vendors.iter().flat_map(|(vendor, v)| {
            v.models
                .iter()
                .map(move |(model, price)| (vendor.as_str(), model.as_str(), *price))
        })
    }
}

fn lowercase(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

fn invalid(entry: &str, message: &str) -> PricingError {
    PricingError::Invalid {
        entry: entry.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests;
