//! `[limits]`: header and body sizes, and the connection timeouts.

use super::super::Limits;
use super::super::raw::RawLimits;
use super::Errs;

/// The limits; the defaults for what the table leaves out.
pub(super) fn validate(raw: Option<&RawLimits>, errs: &mut Errs<'_>) -> Limits {
    let d = Limits::default();
    let Some(l) = raw else { return d };
    let max_header_bytes = match &l.max_header_bytes {
        Some(v) if !(1024..=1024 * 1024).contains(v.get_ref()) => {
            errs.at(
                v,
                "limits.max_header_bytes",
                "must be between 1024 and 1048576",
            );
            d.max_header_bytes
        }
        Some(v) => *v.get_ref() as usize,
        None => d.max_header_bytes,
    };
    Limits {
        max_header_bytes,
        max_body_bytes: l
            .max_body_bytes
            .as_ref()
            .map(|v| *v.get_ref())
            .unwrap_or(d.max_body_bytes),
        header_read_timeout: errs.duration(
            &l.header_read_timeout,
            "limits.header_read_timeout",
            d.header_read_timeout,
        ),
        idle_timeout: errs.duration(&l.idle_timeout, "limits.idle_timeout", d.idle_timeout),
        tls_handshake_timeout: errs.duration(
            &l.tls_handshake_timeout,
            "limits.tls_handshake_timeout",
            d.tls_handshake_timeout,
        ),
        shutdown_grace: errs.duration(&l.shutdown_grace, "limits.shutdown_grace", d.shutdown_grace),
    }
}
