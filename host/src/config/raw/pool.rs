//! The raw mirror of `[[pools]]`: a backend is a URL string or a table.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    pub name: Spanned<String>,
    pub backends: Spanned<Vec<Spanned<RawBackend>>>,
    pub strategy: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub total_timeout: Option<Spanned<String>>,
    pub body_timeout: Option<Spanned<String>>,
    pub coalesce_timeout: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub max_connections: Option<Spanned<u64>>,
    pub idle_timeout: Option<Spanned<String>>,
    pub max_connection_lifetime: Option<Spanned<String>>,
    pub fallback: Option<Spanned<String>>,
    pub health_check: Option<RawHealthCheck>,
    pub outlier: Option<RawOutlier>,
    pub retry: Option<RawRetry>,
    pub tls: Option<RawOriginTls>,
}

/// `"http://host:port"`, `"origin:NAME"` or `{ url = "...", weight = 2, backup = true }`.
#[derive(Debug)]
pub struct RawBackend {
    pub url: Spanned<String>,
    pub weight: Option<Spanned<u64>>,
    pub backup: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackendTable {
    url: Spanned<String>,
    weight: Option<Spanned<u64>>,
    backup: Option<bool>,
}

impl<'de> Deserialize<'de> for RawBackend {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawBackend;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a backend URL string or a table { url, weight, backup }")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawBackend, E> {
                // The string's own span is the enclosing `Spanned`'s.
                Ok(RawBackend {
                    url: Spanned::new(0..0, v.to_string()),
                    weight: None,
                    backup: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawBackend, A::Error> {
                let t = RawBackendTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawBackend {
                    url: t.url,
                    weight: t.weight,
                    backup: t.backup,
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub expect_status: Option<Spanned<RawStatusRange>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
    pub jitter: Option<Spanned<String>>,
}

/// `200` or `"200-399"`.
#[derive(Debug)]
pub enum RawStatusRange {
    One(i64),
    Range(String),
}

impl<'de> Deserialize<'de> for RawStatusRange {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawStatusRange;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a status code like 200 or a range like \"200-399\"")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawStatusRange, E> {
                Ok(RawStatusRange::One(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawStatusRange, E> {
                Ok(RawStatusRange::One(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStatusRange, E> {
                Ok(RawStatusRange::Range(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub enabled: Option<bool>,
    pub consecutive_failures: Option<Spanned<u32>>,
    pub base_ejection: Option<Spanned<String>>,
    pub max_ejection: Option<Spanned<String>>,
    pub max_ejection_percent: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    pub attempts: Option<Spanned<u32>>,
    pub budget_percent: Option<Spanned<u32>>,
    pub min_retries_per_sec: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOriginTls {
    pub sni: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
}
