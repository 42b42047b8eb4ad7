//! Exact prices: dollars per million tokens, held as integer micro-dollars.

use std::fmt;

use serde::{Deserialize, Deserializer, de};

/// A price in micro-dollars per million tokens ("0.15" dollars per million tokens is
/// 150,000). Written in config as a decimal string or number of dollars with at most
/// six decimals; parsed exactly, never through floating-point arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct MicrosPerMillion(pub u64);

impl MicrosPerMillion {
    /// Parses a decimal dollar amount ("2.5", "0.000150", "3").
    pub fn parse_dollars(text: &str) -> Result<Self, String> {
        let text = text.trim().trim_start_matches('$');
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err("empty price".into());
        }
        if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("`{text}` is not a non-negative decimal number"));
        }
        if frac.len() > 6 {
            return Err(format!("`{text}` has more than 6 decimals (micro-dollars)"));
        }
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| format!("`{text}` is too large"))?
        };
        let frac_micros: u64 = format!("{frac:0<6}")
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        whole
            .checked_mul(1_000_000)
            .and_then(|w| w.checked_add(frac_micros))
            .map(Self)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for MicrosPerMillion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl<'de> Deserialize<'de> for MicrosPerMillion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = MicrosPerMillion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price in dollars per million tokens, e.g. \"0.15\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                MicrosPerMillion::parse_dollars(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("price must not be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                v.checked_mul(1_000_000)
                    .map(MicrosPerMillion)
                    .ok_or_else(|| E::custom("price too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                // Rust prints the shortest text that reads back as the same f64, so
                // "0.15" in the file becomes exactly 150,000 here.
                MicrosPerMillion::parse_dollars(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(
            MicrosPerMillion::parse_dollars("0.15"),
            Ok(MicrosPerMillion(150_000))
        );
        assert_eq!(
            MicrosPerMillion::parse_dollars("2.5"),
            Ok(MicrosPerMillion(2_500_000))
        );
        assert_eq!(
            MicrosPerMillion::parse_dollars("3"),
            Ok(MicrosPerMillion(3_000_000))
        );
        assert_eq!(
            MicrosPerMillion::parse_dollars(".000001"),
            Ok(MicrosPerMillion(1))
        );
        assert!(MicrosPerMillion::parse_dollars("0.0000001").is_err());
        assert!(MicrosPerMillion::parse_dollars("-1").is_err());
        assert!(MicrosPerMillion::parse_dollars("1e3").is_err());
        assert!(MicrosPerMillion::parse_dollars("99999999999999999").is_err());
        assert_eq!(MicrosPerMillion(150_000).to_string(), "0.150000");
    }
}
