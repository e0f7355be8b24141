//! `[log]`: the log format and whether requests are logged.

use super::super::LogConfig;
use super::super::raw::RawLog;
use super::Errs;

/// Logging; text with an access log when the table is absent.
pub(super) fn validate(raw: Option<&RawLog>, errs: &mut Errs<'_>) -> LogConfig {
    let Some(l) = raw else {
        return LogConfig::default();
    };
    let json = match &l.format {
        None => false,
        Some(f) => match f.get_ref().as_str() {
            "text" => false,
            "json" => true,
            other => {
                errs.at(
                    f,
                    "log.format",
                    format!("unknown log format \"{other}\": expected \"text\" or \"json\""),
                );
                false
            }
        },
    };
    LogConfig {
        json,
        access_log: l.access_log.unwrap_or(true),
    }
}
