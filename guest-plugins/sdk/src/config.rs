//! Reading a plugin's config values.
//!
//! The host hands each config value over as text: strings as they are, other
//! TOML values rendered as TOML. So `api_keys = "k1,k2"` arrives as `k1,k2`
//! while `api_keys = ["k1", "k2"]` arrives as `["k1", "k2"]`. The parsers here
//! accept both spellings.

use std::cell::RefCell;
use std::rc::Rc;

use crate::host;

/// Something a plugin derives from its config (parsed settings, a keyed MAC,
/// compiled patterns), computed on first use and then shared by every later
/// call of the instance: a plugin's config is fixed for the life of its
/// instance (a reload makes new instances), so a warm instance parses it once.
///
/// Keep one in a `thread_local!` (wasm instances are single-threaded):
///
/// ```
/// use brink_plugin_sdk::config::{self, Memo};
///
/// struct Settings {
///     prefixes: Vec<String>,
/// }
///
/// thread_local! {
///     static SETTINGS: Memo<Settings> = const { Memo::new() };
/// }
///
/// fn settings() -> std::rc::Rc<Settings> {
///     SETTINGS.with(|m| {
///         m.get(|| Settings {
///             prefixes: config::get_list("prefixes").unwrap_or_default(),
///         })
///     })
/// }
/// # brink_plugin_sdk::testing::with_config(&[("prefixes", "/a,/b")]);
/// # assert_eq!(settings().prefixes, ["/a", "/b"]);
/// # brink_plugin_sdk::testing::set_config("prefixes", "/c");
/// # assert_eq!(settings().prefixes, ["/c"]);
/// ```
///
/// Natively (unit tests) the value is computed again whenever the test
/// config changes ([`crate::testing::set_config`] and friends).
pub struct Memo<T> {
    slot: RefCell<Option<(u64, Rc<T>)>>,
}

impl<T> Memo<T> {
    /// An empty memo.
    pub const fn new() -> Self {
        Memo {
            slot: RefCell::new(None),
        }
    }

    /// The memoized value, computed with `init` on first use (and, natively,
    /// after the test config changed). `init` may use other memos.
    pub fn get(&self, init: impl FnOnce() -> T) -> Rc<T> {
        let generation = generation();
        if let Some((g, v)) = &*self.slot.borrow()
            && *g == generation
        {
            return v.clone();
        }
        let v = Rc::new(init());
        *self.slot.borrow_mut() = Some((generation, v.clone()));
        v
    }
}

impl<T> Default for Memo<T> {
    fn default() -> Self {
        Memo::new()
    }
}

/// Which version of the config [`Memo`]s were computed from: always 0 on
/// wasm (the config never changes within an instance); natively, a number
/// that changes with every change of the test config.
fn generation() -> u64 {
    #[cfg(target_arch = "wasm32")]
    return 0;
    #[cfg(not(target_arch = "wasm32"))]
    return crate::testing::generation();
}

/// The raw text of a config value (same as [`host::config`]).
pub fn get(key: &str) -> Option<String> {
    host::config(key)
}

/// A config value as a list ([`parse_list`]); `None` when the key is not set.
pub fn get_list(key: &str) -> Option<Vec<String>> {
    host::config(key).map(|v| parse_list(&v))
}

/// A config value as `(key, value)` pairs ([`parse_pairs`]); `None` when the
/// key is not set.
pub fn get_pairs(key: &str) -> Option<Vec<(String, String)>> {
    host::config(key).map(|v| parse_pairs(&v))
}

/// A config value as a boolean ([`parse_bool`]); `None` when the key is not
/// set or is not a boolean.
pub fn get_bool(key: &str) -> Option<bool> {
    host::config(key).and_then(|v| parse_bool(&v))
}

/// A config value as an unsigned integer (surrounding quotes and whitespace
/// allowed); `None` when the key is not set or is not a number.
pub fn get_u64(key: &str) -> Option<u64> {
    host::config(key).and_then(|v| unquote(v.trim()).trim().parse().ok())
}

/// Parses a list: either a TOML array of strings (or bare values) such as
/// `["a", 'b', 3]`, or comma-separated text such as `a, b,3`. Items are
/// trimmed; empty items are dropped.
pub fn parse_list(text: &str) -> Vec<String> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t);
    split_top_level(inner, ',')
        .into_iter()
        .map(|item| unquote(item.trim()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses pairs: either a TOML inline table such as
/// `{ sub = "x-user-id", "tier" = "x-user-tier" }` or comma-separated
/// `key=value` text such as `sub=x-user-id,tier=x-user-tier`. Keys and values
/// are trimmed; items without `=` or with an empty key are dropped.
pub fn parse_pairs(text: &str) -> Vec<(String, String)> {
    let t = text.trim();
    let inner = t
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t);
    split_top_level(inner, ',')
        .into_iter()
        .filter_map(|item| {
            let parts = split_top_level(item, '=');
            let [k, v] = parts.as_slice() else {
                return None;
            };
            let k = unquote(k.trim());
            (!k.is_empty()).then(|| (k, unquote(v.trim())))
        })
        .collect()
}

/// Parses a boolean: `true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`
/// (case-insensitive, surrounding quotes allowed).
pub fn parse_bool(text: &str) -> Option<bool> {
    match unquote(text.trim()).trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Splits at `sep` where it is not inside a `"..."` or `'...'` string.
fn split_top_level(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == sep => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            None => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Removes TOML quotes: `"..."` with basic escapes, `'...'` literally; other
/// text is returned as it is.
fn unquote(s: &str) -> String {
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                out.extend(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32));
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn lists_in_both_spellings() {
        assert_eq!(parse_list("k1, k2 ,,k3"), ["k1", "k2", "k3"]);
        assert_eq!(
            parse_list(r#"["k1", "k,2", 'k3', 4]"#),
            ["k1", "k,2", "k3", "4"]
        );
        assert_eq!(parse_list("[]"), Vec::<String>::new());
        assert_eq!(parse_list(""), Vec::<String>::new());
        assert_eq!(parse_list(r#"["a\"b"]"#), ["a\"b"]);
    }

    #[test]
    fn pairs_in_both_spellings() {
        let want = [
            ("sub".to_owned(), "x-user-id".to_owned()),
            ("tier".to_owned(), "x-user-tier".to_owned()),
        ];
        assert_eq!(parse_pairs("sub=x-user-id, tier = x-user-tier"), want);
        assert_eq!(
            parse_pairs(r#"{ sub = "x-user-id", "tier" = "x-user-tier" }"#),
            want
        );
        assert_eq!(parse_pairs("novalue, =x"), []);
    }

    #[test]
    fn booleans_and_numbers() {
        assert_eq!(parse_bool("true"), Some(true));
        assert_eq!(parse_bool(" \"No\" "), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        crate::testing::with_config(&[("n", "45"), ("q", "\"7\""), ("x", "y")]);
        assert_eq!(get_u64("n"), Some(45));
        assert_eq!(get_u64("q"), Some(7));
        assert_eq!(get_u64("x"), None);
        assert_eq!(get_u64("missing"), None);
    }
}
