//! Cache keys: the URL part (scheme, host, path, query as the route says),
//! the plugin-set variant, and the request's values of the `Vary` fields.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use super::policy;
use crate::QueryKey;

/// The key of one request, before `Vary` is applied.
#[derive(Debug, Clone)]
pub struct CacheKey {
    /// `scheme://host/path?query` (query as the route's rule says).
    pub url: Arc<str>,
    /// The URL plus the plugin-set cache variant: what `Vary` fields are recorded under.
    pub primary: Arc<str>,
}

/// Separates key parts; cannot occur in a URL or header value.
const SEP: char = '\u{1f}';

impl CacheKey {
    /// Builds the key of a request.
    pub fn new(
        scheme: &str,
        host: &str,
        path: &str,
        query: Option<&str>,
        mode: QueryKey,
        variant: Option<&str>,
    ) -> CacheKey {
        let mut url = String::with_capacity(
            scheme.len() + 3 + host.len() + path.len() + query.map_or(0, |q| q.len() + 1),
        );
        url.push_str(scheme);
        url.push_str("://");
        let start = url.len();
        url.push_str(host);
        url[start..].make_ascii_lowercase();
        url.push_str(path);
        if let Some(q) = normalize_query(query, mode) {
            url.push('?');
            url.push_str(&q);
        }
        let url: Arc<str> = Arc::from(url);
        let primary = match variant {
            Some(v) => Arc::from(format!("{url}{SEP}variant={v}")),
            None => url.clone(),
        };
        CacheKey { url, primary }
    }

    /// The full key for these `Vary` fields and request headers.
    pub fn full(&self, vary: &[HeaderName], req: &HeaderMap) -> Arc<str> {
        if vary.is_empty() {
            return self.primary.clone();
        }
        Arc::from(format!(
            "{}{SEP}vary={}",
            self.primary,
            policy::vary_key(vary, req)
        ))
    }
}

/// The query as it enters the key.
pub(crate) fn normalize_query(query: Option<&str>, mode: QueryKey) -> Option<Cow<'_, str>> {
    let q = query.filter(|q| !q.is_empty())?;
    match mode {
        QueryKey::Keep => Some(Cow::Borrowed(q)),
        QueryKey::Ignore => None,
        QueryKey::Sort => {
            let mut parts: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            parts.sort_unstable();
            Some(Cow::Owned(parts.join("&")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_modes() {
        assert_eq!(
            normalize_query(Some("b=1&a=2"), QueryKey::Sort).as_deref(),
            Some("a=2&b=1")
        );
        assert_eq!(normalize_query(Some("b=1&a=2"), QueryKey::Ignore), None);
        assert_eq!(normalize_query(Some(""), QueryKey::Keep), None);
    }

    #[test]
    fn host_case_and_variant() {
        let a = CacheKey::new(
            "http",
            "Shop.TEST",
            "/p",
            Some("x=1"),
            QueryKey::Keep,
            Some("gold"),
        );
        let b = CacheKey::new(
            "http",
            "shop.test",
            "/p",
            Some("x=1"),
            QueryKey::Keep,
            Some("gold"),
        );
        assert_eq!(a.primary, b.primary);
        assert_eq!(&*a.url, "http://shop.test/p?x=1");
        let c = CacheKey::new(
            "http",
            "shop.test",
            "/p",
            Some("x=1"),
            QueryKey::Keep,
            Some("silver"),
        );
        assert_ne!(a.primary, c.primary);
    }
}
