//! What virtual users request: request kinds, their mix, and the Zipf workload.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use http::Method;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::trace::TraceEntry;
use super::zipf::Zipf;

/// The kind of a request, as reported per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `GET /images/{id}.jpg`.
    Images,
    /// `GET /fragments/product/{id}`.
    ProductFragments,
    /// `GET /products/{id}`.
    ProductPages,
    /// `GET /fragments/recommendations`, personalised (token or segment cookie).
    Recommendations,
    /// `GET /api/inventory/{id}`: `no-store`, never cacheable.
    Inventory,
    /// `POST /api/orders` with a small JSON body: never cacheable.
    Orders,
    /// Any other path (trace replay only).
    Other,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 7] = [
        Kind::Images,
        Kind::ProductFragments,
        Kind::ProductPages,
        Kind::Recommendations,
        Kind::Inventory,
        Kind::Orders,
        Kind::Other,
    ];

    /// The name used in reports and in `--mix`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Images => "images",
            Kind::ProductFragments => "product_fragments",
            Kind::ProductPages => "product_pages",
            Kind::Recommendations => "recommendations",
            Kind::Inventory => "inventory",
            Kind::Orders => "orders",
            Kind::Other => "other",
        }
    }

    /// Whether a response of this kind may be served from a cache at all.
    pub fn cacheable(self) -> bool {
        !matches!(self, Kind::Inventory | Kind::Orders)
    }

    /// Whether the demo's auth plugin wants a credential for it.
    fn needs_token(self) -> bool {
        matches!(self, Kind::Recommendations | Kind::Inventory | Kind::Orders)
    }

    /// The kind of a request path (query ignored).
    pub fn of_path(path: &str) -> Kind {
        let path = path.split(['?', '#']).next().unwrap_or(path);
        if path.starts_with("/images/") {
            Kind::Images
        } else if path.starts_with("/fragments/product/") {
            Kind::ProductFragments
        } else if path.starts_with("/products/") {
            Kind::ProductPages
        } else if path == "/fragments/recommendations" {
            Kind::Recommendations
        } else if path.starts_with("/api/inventory/") {
            Kind::Inventory
        } else if path == "/api/orders" {
            Kind::Orders
        } else {
            Kind::Other
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Kind, String> {
        Ok(match s.trim() {
            "images" | "image" => Kind::Images,
            "product_fragments" | "fragments" => Kind::ProductFragments,
            "product_pages" | "pages" | "products" => Kind::ProductPages,
            "recommendations" | "recs" => Kind::Recommendations,
            "inventory" => Kind::Inventory,
            "orders" => Kind::Orders,
            other => {
                return Err(format!(
                    "unknown request kind {other:?} (images, product_fragments, product_pages, \
                     recommendations, inventory, orders)"
                ));
            }
        })
    }
}

/// Relative weights of the request kinds of the Zipf workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mix(pub Vec<(Kind, f64)>);

impl Default for Mix {
    /// 35% images, 20% product fragments, 20% product pages, 10% recommendations,
    /// 10% inventory, 5% orders.
    fn default() -> Mix {
        Mix(vec![
            (Kind::Images, 35.0),
            (Kind::ProductFragments, 20.0),
            (Kind::ProductPages, 20.0),
            (Kind::Recommendations, 10.0),
            (Kind::Inventory, 10.0),
            (Kind::Orders, 5.0),
        ])
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `images=40,product_pages=30,...`; kinds left out get weight 0.
    fn from_str(s: &str) -> Result<Mix, String> {
        let mut out: Vec<(Kind, f64)> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, w) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?}: expected KIND=WEIGHT"))?;
            let kind: Kind = k.parse()?;
            let w: f64 = w
                .trim()
                .parse()
                .map_err(|_| format!("{part:?}: the weight is not a number"))?;
            if !w.is_finite() || w < 0.0 {
                return Err(format!("{part:?}: the weight must be 0 or more"));
            }
            match out.iter_mut().find(|(k, _)| *k == kind) {
                Some(e) => e.1 = w,
                None => out.push((kind, w)),
            }
        }
        if out.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
            return Err("the mix needs at least one positive weight".into());
        }
        Ok(Mix(out))
    }
}

impl Mix {
    /// The share (0..=1) of `kind`.
    pub fn share(&self, kind: Kind) -> f64 {
        let total: f64 = self.0.iter().map(|(_, w)| w).sum();
        let w: f64 = self
            .0
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, w)| w)
            .sum();
        if total > 0.0 { w / total } else { 0.0 }
    }
}

/// A virtual user: its region and personalisation segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// Index of the user's region (into the targets).
    pub region: usize,
    /// Index of the user's segment (see [`Personas`]).
    pub segment: usize,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its kind.
    pub kind: Kind,
    /// Method.
    pub method: Method,
    /// Path and query.
    pub path: String,
    /// Body (orders).
    pub body: Option<Bytes>,
    /// `Authorization: Bearer` token.
    pub token: Option<String>,
    /// `Cookie` header value.
    pub cookie: Option<String>,
    /// The cache key it competes for in the ideal bound; `None` when uncacheable.
    pub key: Option<String>,
}

/// How users are personalised: by token (one segment per `--token`), or, with no
/// token, by a `segment` cookie from a fixed set of tiers.
#[derive(Debug, Clone)]
pub struct Personas {
    tokens: Vec<String>,
}

/// Segments used when no token is given, sent as `Cookie: segment=NAME`.
pub const COOKIE_SEGMENTS: [&str; 4] = ["gold", "silver", "bronze", "anonymous"];

impl Personas {
    /// Personas from the `--token` values.
    pub fn new(tokens: Vec<String>) -> Personas {
        Personas { tokens }
    }

    /// Number of segments: one per token, or the cookie tiers.
    pub fn segments(&self) -> usize {
        if self.tokens.is_empty() {
            COOKIE_SEGMENTS.len()
        } else {
            self.tokens.len()
        }
    }

    /// Segment name (for cache keys and labels).
    pub fn segment_name(&self, segment: usize) -> String {
        if self.tokens.is_empty() {
            COOKIE_SEGMENTS[segment % COOKIE_SEGMENTS.len()].to_string()
        } else {
            format!("token-{}", segment % self.tokens.len() + 1)
        }
    }

    /// Adds the user's credential or segment cookie to a request of `kind`.
    fn personalise(&self, req: &mut Request, user: &User) {
        if !req.kind.needs_token() {
            return;
        }
        if self.tokens.is_empty() {
            if req.kind == Kind::Recommendations {
                req.cookie = Some(format!("segment={}", self.segment_name(user.segment)));
            }
        } else {
            req.token = Some(self.tokens[user.segment % self.tokens.len()].clone());
        }
    }
}

/// The synthetic shop workload: product popularity Zipf(s) over `1..=catalog`
/// and a mix of request kinds.
#[derive(Debug, Clone)]
pub struct ZipfWorkload {
    zipf: Zipf,
    mix: Mix,
    /// Cumulative weights of `mix`.
    cumulative: Vec<(Kind, f64)>,
    personas: Personas,
}

impl ZipfWorkload {
    /// A workload over `catalog` products with exponent `s`.
    pub fn new(catalog: u32, s: f64, mix: Mix, personas: Personas) -> ZipfWorkload {
        let mut acc = 0.0;
        let cumulative = mix
            .0
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(k, w)| {
                acc += w;
                (*k, acc)
            })
            .collect();
        ZipfWorkload {
            zipf: Zipf::new(catalog, s),
            mix,
            cumulative,
            personas,
        }
    }

    /// The personas.
    pub fn personas(&self) -> &Personas {
        &self.personas
    }

    fn pick_kind<R: Rng + ?Sized>(&self, rng: &mut R) -> Kind {
        let total = self.cumulative.last().map_or(0.0, |(_, w)| *w);
        let u = rng.random::<f64>() * total;
        self.cumulative
            .iter()
            .find(|(_, c)| u < *c)
            .or(self.cumulative.last())
            .map_or(Kind::Images, |(k, _)| *k)
    }

    /// The next request of `user`.
    pub fn next<R: Rng + ?Sized>(&self, user: &User, rng: &mut R) -> Request {
        let kind = self.pick_kind(rng);
        let id = self.zipf.sample(rng);
        let (method, path, body) = match kind {
            Kind::Images => (Method::GET, format!("/images/{id}.jpg"), None),
            Kind::ProductFragments => (Method::GET, format!("/fragments/product/{id}"), None),
            Kind::ProductPages | Kind::Other => (Method::GET, format!("/products/{id}"), None),
            Kind::Recommendations => (Method::GET, "/fragments/recommendations".into(), None),
            Kind::Inventory => (Method::GET, format!("/api/inventory/{id}"), None),
            Kind::Orders => (
                Method::POST,
                "/api/orders".into(),
                Some(Bytes::from(format!("{{\"sku\":{id},\"qty\":1}}"))),
            ),
        };
        let key = match kind {
            Kind::Recommendations => Some(recommendations_key(
                &self.personas.segment_name(user.segment),
            )),
            k if k.cacheable() => Some(path.clone()),
            _ => None,
        };
        let mut req = Request {
            kind,
            method,
            path,
            body,
            token: None,
            cookie: None,
            key,
        };
        self.personas.personalise(&mut req, user);
        req
    }

    /// Every cacheable key with its probability per request (the known
    /// distribution the ideal bound ranks by). Recommendations are split evenly
    /// over the segments.
    pub fn universe(&self) -> Vec<(String, f64)> {
        let n = self.zipf.n();
        let mut out = Vec::new();
        for kind in [Kind::Images, Kind::ProductFragments, Kind::ProductPages] {
            let share = self.mix.share(kind);
            if share <= 0.0 {
                continue;
            }
            for id in 1..=n {
                let path = match kind {
                    Kind::Images => format!("/images/{id}.jpg"),
                    Kind::ProductFragments => format!("/fragments/product/{id}"),
                    _ => format!("/products/{id}"),
                };
                out.push((path, share * self.zipf.pmf(id)));
            }
        }
        let recs = self.mix.share(Kind::Recommendations);
        if recs > 0.0 {
            let segments = self.personas.segments();
            for s in 0..segments {
                out.push((
                    recommendations_key(&self.personas.segment_name(s)),
                    recs / segments as f64,
                ));
            }
        }
        out
    }
}

fn recommendations_key(segment: &str) -> String {
    format!("/fragments/recommendations#{segment}")
}

/// A request replaying a trace line. GET and HEAD requests of cacheable kinds
/// compete for the cache under their path.
pub fn trace_request(entry: &TraceEntry, user: &User, personas: &Personas) -> Request {
    let kind = Kind::of_path(&entry.path);
    let cacheable = kind.cacheable() && matches!(entry.method, Method::GET | Method::HEAD);
    let body = (!matches!(entry.method, Method::GET | Method::HEAD | Method::DELETE))
        .then(|| Bytes::from_static(b"{}"));
    let mut req = Request {
        kind,
        method: entry.method.clone(),
        path: entry.path.clone(),
        body,
        token: None,
        cookie: None,
        key: cacheable.then(|| entry.path.clone()),
    };
    personas.personalise(&mut req, user);
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn kinds_of_paths() {
        assert_eq!(Kind::of_path("/images/3.jpg"), Kind::Images);
        assert_eq!(
            Kind::of_path("/fragments/product/3"),
            Kind::ProductFragments
        );
        assert_eq!(Kind::of_path("/products/3?x=1"), Kind::ProductPages);
        assert_eq!(
            Kind::of_path("/fragments/recommendations?segment=a"),
            Kind::Recommendations
        );
        assert_eq!(Kind::of_path("/api/inventory/9"), Kind::Inventory);
        assert_eq!(Kind::of_path("/api/orders"), Kind::Orders);
        assert_eq!(Kind::of_path("/"), Kind::Other);
    }

    #[test]
    fn mix_parses_and_rejects() {
        let m: Mix = "images=3, pages=1".parse().unwrap();
        assert_eq!(m.share(Kind::Images), 0.75);
        assert_eq!(m.share(Kind::Orders), 0.0);
        assert!("images".parse::<Mix>().is_err());
        assert!("videos=1".parse::<Mix>().is_err());
        assert!("images=0".parse::<Mix>().is_err());
        assert!("images=-1".parse::<Mix>().is_err());
    }

    #[test]
    fn universe_probabilities_sum_to_one() {
        let w = ZipfWorkload::new(100, 1.0, Mix::default(), Personas::new(vec![]));
        let u = w.universe();
        assert_eq!(u.len(), 300 + 4);
        let cacheable: f64 = u.iter().map(|(_, p)| p).sum();
        // Inventory and orders (15%) are not in the universe.
        assert!((cacheable - 0.85).abs() < 1e-9, "{cacheable}");
    }

    #[test]
    fn requests_follow_the_mix_and_personas() {
        let w = ZipfWorkload::new(
            10,
            1.0,
            Mix::default(),
            Personas::new(vec!["t1".into(), "t2".into()]),
        );
        let mut rng = StdRng::seed_from_u64(1);
        let user = User {
            region: 0,
            segment: 1,
        };
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let r = w.next(&user, &mut rng);
            seen.insert(r.kind);
            assert_eq!(Kind::of_path(&r.path), r.kind, "{}", r.path);
            assert_eq!(r.key.is_some(), r.kind.cacheable());
            match r.kind {
                Kind::Recommendations => {
                    assert_eq!(r.token.as_deref(), Some("t2"));
                    assert_eq!(r.key.as_deref(), Some("/fragments/recommendations#token-2"));
                }
                Kind::Orders => {
                    assert_eq!(r.method, Method::POST);
                    assert!(r.body.is_some());
                    assert!(r.token.is_some());
                }
                Kind::Images => assert!(r.token.is_none()),
                _ => {}
            }
        }
        assert_eq!(seen.len(), 6, "{seen:?}");
    }
}
