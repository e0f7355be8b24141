//! The error collector every section check writes to, and the value checks
//! several sections share (durations, socket addresses, names, header
//! names). One collector per file so that validation reports every error it
//! finds, each at its place, and the messages for a kind of value are
//! spelled once.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use toml::Spanned;

use super::super::error::{ConfigError, ConfigErrors};

/// Collects errors while validating.
pub(super) struct Errs<'a> {
    file: &'a str,
    /// The file's text (for line and column of a span).
    pub(super) text: &'a str,
    list: Vec<ConfigError>,
}

impl<'a> Errs<'a> {
    /// An empty collector for `file`, whose text is `text`.
    pub(super) fn new(file: &'a str, text: &'a str) -> Self {
        Errs {
            file,
            text,
            list: Vec::new(),
        }
    }

    /// Every error, in file order (errors at one place keep the order they
    /// were found in); `Ok` if there was none.
    pub(super) fn finish(mut self) -> Result<(), ConfigErrors> {
        if self.list.is_empty() {
            return Ok(());
        }
        self.list.sort_by_key(|e| (e.line, e.col));
        Err(ConfigErrors(self.list))
    }

    /// An error at `value`'s place.
    pub(super) fn at<T>(&mut self, value: &Spanned<T>, key: &str, message: impl Into<String>) {
        let e = ConfigError::at(self.file, self.text, value.span().start, key, message);
        self.list.push(e);
    }

    /// An error about something missing, at the top of the file.
    pub(super) fn top(&mut self, key: &str, message: impl Into<String>) {
        self.list
            .push(ConfigError::new(self.file, 1, 1, key, message.into()));
    }

    /// A list of request field names, lower case; each invalid one is an
    /// error at its place.
    pub(super) fn header_names(&mut self, names: &[Spanned<String>], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (j, n) in names.iter().enumerate() {
            match http::HeaderName::from_bytes(n.get_ref().as_bytes()) {
                Ok(h) => out.push(h.as_str().to_string()),
                Err(_) => self.at(
                    n,
                    &format!("{key}[{j}]"),
                    format!("invalid header name \"{}\"", n.get_ref()),
                ),
            }
        }
        out
    }

    /// A duration greater than zero; `default` when absent or invalid.
    pub(super) fn duration(
        &mut self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.at(v, key, "must be greater than zero");
                default
            }
            Err(e) => {
                self.at(
                    v,
                    key,
                    format!(
                        "invalid duration \"{}\": {e} (use e.g. \"500ms\", \"10s\", \"2m\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    /// A duration that may be zero (`"0"` or `"0s"`); zero when absent.
    pub(super) fn duration_or_zero(&mut self, v: &Option<Spanned<String>>, key: &str) -> Duration {
        let Some(v) = v else { return Duration::ZERO };
        if v.get_ref().trim() == "0" || v.get_ref().trim() == "0s" {
            return Duration::ZERO;
        }
        self.duration(&Some(v.clone()), key, Duration::ZERO)
    }

    /// An `IP:PORT` socket address.
    pub(super) fn addr(&mut self, v: &Spanned<String>, key: &str) -> Option<SocketAddr> {
        match v.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.at(
                    v,
                    key,
                    format!(
                        "invalid socket address \"{}\": expected IP:PORT, e.g. \"127.0.0.1:8080\"",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// A name of letters, digits, `-`, `_` and `.`, not yet in `seen`.
    pub(super) fn name(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        seen: &mut HashSet<String>,
        what: &str,
    ) {
        let n = v.get_ref();
        if n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            self.at(
                v,
                key,
                format!("invalid {what} name \"{n}\": use letters, digits, '-', '_' or '.'"),
            );
        } else if !seen.insert(n.clone()) {
            self.at(v, key, format!("duplicate {what} name \"{n}\""));
        }
    }
}
