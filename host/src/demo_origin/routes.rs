//! Request routing and handlers of the demo origin.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, DATE, ETAG,
    LAST_MODIFIED,
};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::conditional::{RangeOutcome, evaluate_range, is_not_modified};
use super::{Class, Shared, catalog};

/// Largest accepted order body.
const ORDER_BODY_LIMIT: usize = 1024 * 1024;

const X_ORIGIN: HeaderName = HeaderName::from_static("x-origin");
const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
const NO_STORE: &str = "no-store";

/// What a path designates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Product(Option<u32>),
    FragmentProduct(Option<u32>),
    Recommendations,
    Image(Option<u32>),
    Inventory(Option<u32>),
    Orders,
    Healthz,
    Stats,
    ControlHealth,
    ControlFailRate,
    Unknown,
}

impl Route {
    fn parse(path: &str) -> Self {
        if let Some(id) = path.strip_prefix("/products/") {
            Route::Product(parse_id(id))
        } else if let Some(id) = path.strip_prefix("/fragments/product/") {
            Route::FragmentProduct(parse_id(id))
        } else if let Some(file) = path.strip_prefix("/images/") {
            Route::Image(file.strip_suffix(".jpg").and_then(parse_id))
        } else if let Some(id) = path.strip_prefix("/api/inventory/") {
            Route::Inventory(parse_id(id))
        } else {
            match path {
                "/fragments/recommendations" => Route::Recommendations,
                "/api/orders" => Route::Orders,
                "/healthz" => Route::Healthz,
                "/stats" => Route::Stats,
                "/control/health" => Route::ControlHealth,
                "/control/fail-rate" => Route::ControlFailRate,
                _ => Route::Unknown,
            }
        }
    }

    /// The counter class; `None` for the uncounted `/stats` and `/control/*`.
    fn class(&self) -> Option<Class> {
        Some(match self {
            Route::Product(_) => Class::Products,
            Route::FragmentProduct(_) => Class::FragmentsProduct,
            Route::Recommendations => Class::FragmentsRecommendations,
            Route::Image(_) => Class::Images,
            Route::Inventory(_) => Class::Inventory,
            Route::Orders => Class::Orders,
            Route::Healthz => Class::Healthz,
            Route::Unknown => Class::Other,
            Route::Stats | Route::ControlHealth | Route::ControlFailRate => return None,
        })
    }
}

/// A decimal id without sign or leading `+`.
fn parse_id(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The value of query parameter `key`, percent-decoded (`+` means space).
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |c: u8| (c as char).to_digit(16);
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Header value from a string we built; our values are always visible ASCII.
fn hv(s: impl AsRef<str>) -> HeaderValue {
    HeaderValue::from_str(s.as_ref()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn http_date(t: SystemTime) -> HeaderValue {
    hv(httpdate::fmt_http_date(t))
}

/// A response with a body, content type and cache policy.
fn reply(
    status: StatusCode,
    content_type: &'static str,
    cache_control: &'static str,
    body: impl Into<Bytes>,
) -> Response<Bytes> {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    resp
}

fn text(status: StatusCode, body: &'static str) -> Response<Bytes> {
    reply(status, "text/plain; charset=utf-8", NO_STORE, body)
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Bytes> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    reply(status, "application/json", NO_STORE, body)
}

fn not_found() -> Response<Bytes> {
    text(StatusCode::NOT_FOUND, "not found\n")
}

fn method_not_allowed(allow: &'static str) -> Response<Bytes> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

/// A cacheable representation with validators.
struct Representation {
    content_type: &'static str,
    cache_control: &'static str,
    etag: String,
    last_modified: SystemTime,
    surrogate_key: String,
    body: Bytes,
    /// Whether `Range` is honoured (and `Accept-Ranges: bytes` advertised).
    ranges: bool,
}

/// Answers GET/HEAD of `rep`: 304, 206, 416 or 200.
fn serve_representation(req: &Request<Incoming>, rep: Representation) -> Response<Bytes> {
    let method = req.method();
    let headers = req.headers();
    let not_modified = is_not_modified(method, headers, &rep.etag, rep.last_modified);
    let len = rep.body.len();
    let (status, body, content_range) = if not_modified {
        (StatusCode::NOT_MODIFIED, Bytes::new(), None)
    } else if rep.ranges {
        match evaluate_range(method, headers, len, &rep.etag, rep.last_modified) {
            RangeOutcome::Full => (StatusCode::OK, rep.body, None),
            RangeOutcome::Partial { start, end } => (
                StatusCode::PARTIAL_CONTENT,
                rep.body.slice(start..=end),
                Some(format!("bytes {start}-{end}/{len}")),
            ),
            RangeOutcome::Unsatisfiable => (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Bytes::new(),
                Some(format!("bytes */{len}")),
            ),
        }
    } else {
        (StatusCode::OK, rep.body, None)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    if status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT {
        h.insert(CONTENT_TYPE, HeaderValue::from_static(rep.content_type));
    }
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        h.insert(CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    } else {
        h.insert(CACHE_CONTROL, HeaderValue::from_static(rep.cache_control));
        h.insert(ETAG, hv(&rep.etag));
        h.insert(LAST_MODIFIED, http_date(rep.last_modified));
        h.insert(SURROGATE_KEY, hv(&rep.surrogate_key));
    }
    if rep.ranges {
        h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    if let Some(cr) = content_range {
        h.insert(CONTENT_RANGE, hv(cr));
    }
    resp
}

/// The hyper service: count, delay, maybe fail, route, decorate.
pub(super) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let route = Route::parse(req.uri().path());
    let is_head = req.method() == Method::HEAD;
    let class = route.class();
    let mut resp = match class {
        None => uncounted(&shared, &route, &req),
        Some(Class::Healthz) => {
            shared.counters.count(Class::Healthz);
            healthz(&shared, &req)
        }
        Some(class) => {
            shared.counters.count(class);
            if !shared.latency.is_zero() {
                tokio::time::sleep(shared.latency).await;
            }
            let rate = shared.fail_rate();
            if rate > 0.0 && rand::random::<f64>() < rate {
                let c = &shared.counters;
                c.injected_failures.fetch_add(1, Ordering::Relaxed);
                text(StatusCode::SERVICE_UNAVAILABLE, "injected failure")
            } else {
                counted(&shared, route, req).await
            }
        }
    };
    if is_head {
        strip_body(&mut resp);
    }
    if class.is_some() {
        let c = &shared.counters;
        match resp.status() {
            StatusCode::NOT_MODIFIED => c.not_modified.fetch_add(1, Ordering::Relaxed),
            StatusCode::PARTIAL_CONTENT => c.partial.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        c.bytes
            .fetch_add(resp.body().len() as u64, Ordering::Relaxed);
    }
    let h = resp.headers_mut();
    h.insert(X_ORIGIN, shared.origin_header.clone());
    h.insert(DATE, http_date(SystemTime::now()));
    Ok(resp.map(Full::new))
}

/// Replaces the body of a HEAD answer by nothing, keeping its length in `Content-Length`.
fn strip_body(resp: &mut Response<Bytes>) {
    let len = resp.body().len();
    if len > 0 {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(len));
        *resp.body_mut() = Bytes::new();
    }
}

fn is_get_or_head(req: &Request<Incoming>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD)
}

/// `/stats` and `/control/*`: no counting, latency or failures.
fn uncounted(shared: &Shared, route: &Route, req: &Request<Incoming>) -> Response<Bytes> {
    let query = req.uri().query();
    match route {
        Route::Stats if is_get_or_head(req) => {
            let stats = shared.counters.snapshot();
            json(StatusCode::OK, &serde_json::json!(stats))
        }
        Route::Stats => method_not_allowed("GET, HEAD"),
        _ if req.method() != Method::POST => method_not_allowed("POST"),
        Route::ControlHealth => {
            match query_param(query, "fail").and_then(|v| v.parse::<bool>().ok()) {
                Some(fail) => {
                    shared.fail_healthz.store(fail, Ordering::Relaxed);
                    json(StatusCode::OK, &serde_json::json!({ "fail_healthz": fail }))
                }
                None => text(StatusCode::BAD_REQUEST, "expected ?fail=true|false\n"),
            }
        }
        Route::ControlFailRate => {
            match query_param(query, "value").and_then(|v| v.parse::<f64>().ok()) {
                Some(rate) if (0.0..=1.0).contains(&rate) => {
                    shared.set_fail_rate(rate);
                    json(StatusCode::OK, &serde_json::json!({ "fail_rate": rate }))
                }
                _ => text(
                    StatusCode::BAD_REQUEST,
                    "expected ?value=F with 0 <= F <= 1\n",
                ),
            }
        }
        _ => not_found(),
    }
}

fn healthz(shared: &Shared, req: &Request<Incoming>) -> Response<Bytes> {
    if !is_get_or_head(req) {
        return method_not_allowed("GET, HEAD");
    }
    if shared.fail_healthz.load(Ordering::Relaxed) {
        text(StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    } else {
        text(StatusCode::OK, "ok")
    }
}

/// Counted routes after latency and failure injection.
async fn counted(shared: &Shared, route: Route, req: Request<Incoming>) -> Response<Bytes> {
    if route == Route::Orders {
        return if req.method() == Method::POST {
            order(shared, req).await
        } else {
            method_not_allowed("POST")
        };
    }
    if !is_get_or_head(&req) {
        return match route {
            Route::Unknown => not_found(),
            _ => method_not_allowed("GET, HEAD"),
        };
    }
    if let Route::Inventory(id) = route {
        return inventory(shared, id);
    }
    match representation(shared, route, &req) {
        Some(rep) => serve_representation(&req, rep),
        None => not_found(),
    }
}

/// An id within the catalog, or `None`.
fn in_catalog(shared: &Shared, id: Option<u32>) -> Option<u32> {
    id.filter(|id| (1..=shared.catalog).contains(id))
}

/// `GET /api/inventory/ID`: uncacheable JSON that changes on every request.
fn inventory(shared: &Shared, id: Option<u32>) -> Response<Bytes> {
    let Some(id) = in_catalog(shared, id) else {
        return not_found();
    };
    let seq = shared.inventory_seq.fetch_add(1, Ordering::Relaxed);
    let stock = (catalog::mix(u64::from(id)) % 200 + seq) % 250;
    json(
        StatusCode::OK,
        &serde_json::json!({ "id": id, "stock": stock, "origin": shared.name }),
    )
}

/// What a cacheable catalog route serves; `None` for an id outside the
/// catalog or a route that is not one of them.
fn representation(
    shared: &Shared,
    route: Route,
    req: &Request<Incoming>,
) -> Option<Representation> {
    Some(match route {
        Route::Product(id) => {
            let id = in_catalog(shared, id)?;
            Representation {
                content_type: "text/html; charset=utf-8",
                cache_control: "public, max-age=60",
                etag: catalog::etag("product", id),
                last_modified: catalog::last_modified(id),
                surrogate_key: format!("product-{id} products"),
                body: catalog::product_page(id),
                ranges: false,
            }
        }
        Route::FragmentProduct(id) => {
            let id = in_catalog(shared, id)?;
            Representation {
                content_type: "text/html; charset=utf-8",
                cache_control: "public, max-age=30",
                etag: catalog::etag("fragment", id),
                last_modified: catalog::last_modified(id),
                surrogate_key: format!("product-{id} fragments"),
                body: catalog::product_fragment(id),
                ranges: false,
            }
        }
        Route::Recommendations => {
            let segment = query_param(req.uri().query(), "segment")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "anonymous".to_owned());
            Representation {
                content_type: "text/html; charset=utf-8",
                cache_control: "public, max-age=30",
                etag: catalog::recommendations_etag(&segment, shared.catalog),
                last_modified: catalog::catalog_modified(),
                surrogate_key: "recommendations fragments".to_owned(),
                body: catalog::recommendations_fragment(&segment, shared.catalog),
                ranges: false,
            }
        }
        Route::Image(id) => {
            let id = in_catalog(shared, id)?;
            Representation {
                content_type: "image/jpeg",
                cache_control: "public, max-age=86400, immutable",
                etag: catalog::etag("image", id),
                last_modified: catalog::last_modified(id),
                surrogate_key: format!("image-{id} images"),
                body: catalog::image_bytes(id),
                ranges: true,
            }
        }
        _ => return None,
    })
}

/// `POST /api/orders`: read the body (at most 1 MiB) and confirm.
async fn order(shared: &Shared, req: Request<Incoming>) -> Response<Bytes> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > ORDER_BODY_LIMIT as u64) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "order body exceeds 1 MiB\n");
    }
    let body = match Limited::new(req.into_body(), ORDER_BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "order body exceeds 1 MiB\n");
        }
        Err(_) => return text(StatusCode::BAD_REQUEST, "could not read order body\n"),
    };
    let order_id = shared.next_order.fetch_add(1, Ordering::Relaxed);
    json(
        StatusCode::CREATED,
        &serde_json::json!({ "order_id": order_id, "bytes": body.len(), "origin": shared.name }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(Route::parse("/products/7"), Route::Product(Some(7)));
        assert_eq!(Route::parse("/products/+7"), Route::Product(None));
        assert_eq!(Route::parse("/products/"), Route::Product(None));
        assert_eq!(Route::parse("/images/12.jpg"), Route::Image(Some(12)));
        assert_eq!(Route::parse("/images/12.png"), Route::Image(None));
        assert_eq!(
            Route::parse("/fragments/recommendations"),
            Route::Recommendations
        );
        assert_eq!(Route::parse("/nope"), Route::Unknown);
        assert_eq!(Route::parse("/stats").class(), None);
    }

    #[test]
    fn queries() {
        assert_eq!(
            query_param(Some("a=1&segment=new%20visitor+x"), "segment").as_deref(),
            Some("new visitor x")
        );
        assert_eq!(query_param(Some("segment"), "segment").as_deref(), Some(""));
        assert_eq!(query_param(None, "segment"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
