//! TOML text to the raw mirror. Kept apart from the section checks because
//! its errors come from serde, not from us: a syntax error, an unknown key or
//! a mistyped value is reported at the key path serde was at.

use super::super::error::{ConfigError, ConfigErrors};
use super::super::raw::RawConfig;

/// Parses TOML into the raw mirror; a syntax error or an unknown or mistyped
/// key is reported with the key path serde was at.
pub(in super::super) fn deserialize(text: &str, file: &str) -> Result<RawConfig, ConfigErrors> {
    let de = toml::de::Deserializer::parse(text).map_err(|e| toml_error(file, text, &e, ""))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // `toml::Spanned` deserializes through a private field; keep it out of key paths.
        let path = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "");
        let inner = e.into_inner();
        let mut key = if path == "." { String::new() } else { path };
        // For an unknown field, name the field itself in the key path.
        if let Some(field) = unknown_field(inner.message())
            && !key.ends_with(&field)
        {
            key = if key.is_empty() {
                field
            } else {
                format!("{key}.{field}")
            };
        }
        toml_error(file, text, &inner, &key)
    })
}

fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn toml_error(file: &str, text: &str, e: &toml::de::Error, key: &str) -> ConfigErrors {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let message = e.message().trim().replace('\n', " ");
    ConfigErrors::single(ConfigError::at(file, text, offset, key, message))
}
