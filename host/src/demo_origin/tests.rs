//! End-to-end tests of the demo origin over real sockets with hyper's client.

#![allow(
    clippy::too_many_lines,
    reason = "a scenario reads best top to bottom; the limit is for product code"
)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, DATE, ETAG,
    IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::catalog::{IMAGE_MAX, IMAGE_MIN};
use super::*;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    version: Version,
}

impl Answer {
    fn header(&self, name: impl http::header::AsHeaderName) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn origin(opts: OriginOptions) -> OriginHandle {
    start("127.0.0.1:0".parse().unwrap(), opts).await.unwrap()
}

async fn send(
    c: &HttpClient,
    method: Method,
    url: String,
    headers: &[(http::HeaderName, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(k, *v);
    }
    let resp = c
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
        version: parts.version,
    }
}

async fn get(c: &HttpClient, url: String) -> Answer {
    send(c, Method::GET, url, &[], Bytes::new()).await
}

async fn get_with(c: &HttpClient, url: String, headers: &[(http::HeaderName, &str)]) -> Answer {
    send(c, Method::GET, url, headers, Bytes::new()).await
}

#[tokio::test]
async fn product_pages_are_deterministic_and_cacheable() {
    let a = origin(OriginOptions {
        name: "a".into(),
        catalog: 50,
        ..Default::default()
    })
    .await;
    let b = origin(OriginOptions {
        name: "b".into(),
        catalog: 50,
        ..Default::default()
    })
    .await;
    let c = client();
    let r = get(&c, format!("{}/products/7", a.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(CACHE_CONTROL), "public, max-age=60");
    assert_eq!(r.header("surrogate-key"), "product-7 products");
    assert_eq!(r.header("x-origin"), "a");
    assert!(r.header(CONTENT_TYPE).starts_with("text/html"));
    assert!(r.header(ETAG).starts_with('"'));
    assert_eq!(r.header(LAST_MODIFIED), "Mon, 01 Jan 2024 07:00:00 GMT");
    assert!(!r.header(DATE).is_empty());
    assert!((2_000..12_000).contains(&r.body.len()), "{}", r.body.len());
    let html = std::str::from_utf8(&r.body).unwrap();
    assert!(html.contains(&catalog::product_name(7)));
    // Same id, other origin: same bytes and validators.
    let r2 = get(&c, format!("{}/products/7", b.url())).await;
    assert_eq!(r2.header("x-origin"), "b");
    assert_eq!(
        (r2.body.clone(), r2.header(ETAG)),
        (r.body.clone(), r.header(ETAG))
    );
    let other = get(&c, format!("{}/products/8", a.url())).await;
    assert_ne!(other.body, r.body);
    assert_ne!(other.header(ETAG), r.header(ETAG));
    for path in ["/products/0", "/products/51", "/products/x", "/nope"] {
        let r = get(&c, format!("{}{path}", a.url())).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.header("x-origin"), "a");
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn fragments() {
    let o = origin(OriginOptions::default()).await;
    let c = client();
    let r = get(&c, format!("{}/fragments/product/3", o.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(CACHE_CONTROL), "public, max-age=30");
    assert_eq!(r.header("surrogate-key"), "product-3 fragments");
    assert!(!r.header(ETAG).is_empty() && !r.header(LAST_MODIFIED).is_empty());
    assert!(r.body.len() < 1024);

    let reco = |s: &'static str| get(&c, format!("{}/fragments/recommendations{s}", o.url()));
    let vip = reco("?segment=vip").await;
    let vip2 = reco("?segment=vip").await;
    let new = reco("?segment=new").await;
    let anon = reco("").await;
    let anon2 = reco("?segment=anonymous").await;
    assert_eq!(vip.status, StatusCode::OK);
    assert_eq!(vip.header(CACHE_CONTROL), "public, max-age=30");
    let html = std::str::from_utf8(&vip.body).unwrap();
    assert_eq!(html.matches("{{segment}}").count(), 1, "{html}");
    assert_eq!(vip.body, vip2.body);
    assert_ne!(vip.body, new.body);
    assert_ne!(vip.header(ETAG), new.header(ETAG));
    assert_eq!(anon.body, anon2.body);
    assert_eq!(anon.header(ETAG), anon2.header(ETAG));
    assert_eq!(catalog::recommended_ids("vip", 1000).len(), 6);
    assert_eq!(catalog::recommended_ids("vip", 3).len(), 3);
    o.shutdown().await;
}

#[tokio::test]
async fn images_sizes_and_bytes() {
    let o = origin(OriginOptions::default()).await;
    let c = client();
    let mut sizes = Vec::new();
    for id in 1..=200u32 {
        let len = catalog::image_len(id);
        assert!((IMAGE_MIN..=IMAGE_MAX).contains(&len));
        sizes.push(len);
    }
    sizes.sort_unstable();
    assert!(
        sizes[20] < 60 * 1024 && sizes[180] > 250 * 1024,
        "spread: {sizes:?}"
    );

    let r = get(&c, format!("{}/images/42.jpg", o.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(CONTENT_TYPE), "image/jpeg");
    assert_eq!(r.header(CACHE_CONTROL), "public, max-age=86400, immutable");
    assert_eq!(r.header(ACCEPT_RANGES), "bytes");
    assert_eq!(r.body.len(), catalog::image_len(42));
    assert_eq!(r.header(CONTENT_LENGTH), r.body.len().to_string());
    assert_eq!(&r.body[..4], &[0xFF, 0xD8, 0xFF, 0xE0]);
    assert_eq!(&r.body[r.body.len() - 2..], &[0xFF, 0xD9]);
    let again = get(&c, format!("{}/images/42.jpg", o.url())).await;
    assert_eq!(again.body, r.body);
    assert_ne!(
        get(&c, format!("{}/images/43.jpg", o.url())).await.body,
        r.body
    );
    assert_eq!(
        get(&c, format!("{}/images/42.png", o.url())).await.status,
        StatusCode::NOT_FOUND
    );
    o.shutdown().await;
}

#[tokio::test]
async fn image_ranges() {
    let o = origin(OriginOptions::default()).await;
    let c = client();
    let url = format!("{}/images/5.jpg", o.url());
    let full = catalog::image_bytes(5);
    let len = full.len();
    let r = get_with(&c, url.clone(), &[(RANGE, "bytes=0-99")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header(CONTENT_RANGE), format!("bytes 0-99/{len}"));
    assert_eq!(r.body, full.slice(0..100));
    let r = get_with(&c, url.clone(), &[(RANGE, "bytes=-10")]).await;
    assert_eq!(
        r.header(CONTENT_RANGE),
        format!("bytes {}-{}/{len}", len - 10, len - 1)
    );
    assert_eq!(r.body, full.slice(len - 10..));
    let r = get_with(&c, url.clone(), &[(RANGE, "bytes=100-")]).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, full.slice(100..));
    let r = get_with(&c, url.clone(), &[(RANGE, &format!("bytes={len}-"))]).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header(CONTENT_RANGE), format!("bytes */{len}"));
    assert!(r.body.is_empty());
    let r = get_with(&c, url.clone(), &[(RANGE, "bytes=0-1,5-9")]).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::OK, len));
    let stats = o.stats();
    assert_eq!((stats.partial, stats.images), (3, 5));
    o.shutdown().await;
}

#[tokio::test]
async fn conditional_requests_and_head() {
    let o = origin(OriginOptions::default()).await;
    let c = client();
    let url = format!("{}/products/9", o.url());
    let r = get(&c, url.clone()).await;
    let etag = r.header(ETAG).to_owned();
    let lm = r.header(LAST_MODIFIED).to_owned();
    let weak = format!("W/{etag}");
    let list = format!("\"nope\", {etag}");
    for inm in [etag.as_str(), &weak, &list, "*"] {
        let nm = get_with(&c, url.clone(), &[(IF_NONE_MATCH, inm)]).await;
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(nm.body.is_empty());
        assert_eq!(nm.header(ETAG), etag);
        assert_eq!(nm.header(CACHE_CONTROL), "public, max-age=60");
        assert_eq!(nm.header(LAST_MODIFIED), lm);
    }
    let stale = get_with(&c, url.clone(), &[(IF_NONE_MATCH, "\"nope\"")]).await;
    assert_eq!(stale.status, StatusCode::OK);
    let ims = get_with(&c, url.clone(), &[(IF_MODIFIED_SINCE, &lm)]).await;
    assert_eq!(ims.status, StatusCode::NOT_MODIFIED);
    let older = "Mon, 01 Jan 2024 00:00:00 GMT";
    let ims = get_with(&c, url.clone(), &[(IF_MODIFIED_SINCE, older)]).await;
    assert_eq!(ims.status, StatusCode::OK);

    let head = send(&c, Method::HEAD, url.clone(), &[], Bytes::new()).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header(CONTENT_LENGTH), r.body.len().to_string());
    assert_eq!(head.header(ETAG), etag);
    let stats = o.stats();
    assert_eq!(stats.not_modified, 5);
    assert_eq!(stats.products, 9);
    let sent = 3 * r.body.len() as u64;
    assert_eq!(stats.bytes, sent);
    o.shutdown().await;
}

#[tokio::test]
async fn inventory_and_orders() {
    let o = origin(OriginOptions {
        name: "eu-1".into(),
        catalog: 10,
        ..Default::default()
    })
    .await;
    let c = client();
    let r = get(&c, format!("{}/api/inventory/4", o.url())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header(CACHE_CONTROL), "no-store");
    let j = r.json();
    assert_eq!(
        (j["id"].as_u64(), j["origin"].as_str()),
        (Some(4), Some("eu-1"))
    );
    assert!(j["stock"].is_u64());
    let missing = get(&c, format!("{}/api/inventory/11", o.url())).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let orders = format!("{}/api/orders", o.url());
    let r = send(&c, Method::POST, orders.clone(), &[], vec![b'x'; 1234]).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header(CACHE_CONTROL), "no-store");
    let j = r.json();
    assert_eq!(
        (j["bytes"].as_u64(), j["origin"].as_str()),
        (Some(1234), Some("eu-1"))
    );
    let first = j["order_id"].as_u64().unwrap();
    let r = send(&c, Method::POST, orders.clone(), &[], Bytes::new()).await;
    assert_eq!(r.json()["order_id"].as_u64(), Some(first + 1));
    // Too large: answered from Content-Length without reading the body (raw socket, so the
    // client is not writing a body the server will never read).
    let mut raw = tokio::net::TcpStream::connect(o.addr()).await.unwrap();
    let head = b"POST /api/orders HTTP/1.1\r\nhost: x\r\ncontent-length: 2000000\r\n\r\n";
    tokio::io::AsyncWriteExt::write_all(&mut raw, head)
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = tokio::io::AsyncReadExt::read(&mut raw, &mut buf)
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(get(&c, orders).await.status, StatusCode::METHOD_NOT_ALLOWED);
    let stats = o.stats();
    assert_eq!((stats.orders, stats.inventory, stats.total), (4, 2, 6));
    o.shutdown().await;
}

#[tokio::test]
async fn failure_injection_and_health() {
    let o = origin(OriginOptions {
        fail_rate: 1.0,
        fail_healthz: true,
        ..Default::default()
    })
    .await;
    let c = client();
    let r = get(&c, format!("{}/products/1", o.url())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(&r.body[..], b"injected failure");
    assert_eq!(r.header(CACHE_CONTROL), "no-store");
    assert_eq!(
        get(&c, format!("{}/healthz", o.url())).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    o.set_fail_healthz(false);
    let h = get(&c, format!("{}/healthz", o.url())).await;
    assert_eq!((h.status, &h.body[..]), (StatusCode::OK, &b"ok"[..]));
    o.set_fail_rate(0.0);
    assert_eq!(
        get(&c, format!("{}/products/1", o.url())).await.status,
        StatusCode::OK
    );

    // The same switches over HTTP, for tests driving a `brink origin` process.
    let post = |path: &str| {
        send(
            &c,
            Method::POST,
            format!("{}{path}", o.url()),
            &[],
            Bytes::new(),
        )
    };
    assert_eq!(
        post("/control/health?fail=true").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&c, format!("{}/healthz", o.url())).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post("/control/health?fail=false").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&c, format!("{}/healthz", o.url())).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post("/control/fail-rate?value=1").await.status,
        StatusCode::OK
    );
    let r = get(&c, format!("{}/fragments/product/1", o.url())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        get(&c, format!("{}/healthz", o.url())).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post("/control/fail-rate?value=2").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/control/health?fail=maybe").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/control/fail-rate?value=0").await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&c, format!("{}/fragments/product/1", o.url()))
            .await
            .status,
        StatusCode::OK
    );

    let stats = o.stats();
    assert_eq!(stats.injected_failures, 2);
    assert_eq!(stats.healthz, 5);
    assert_eq!(
        (stats.products, stats.fragments_product, stats.total),
        (2, 2, 9)
    );
    let over_http: OriginStats = get(&c, format!("{}/stats", o.url())).await.json_as();
    assert_eq!(over_http, o.stats());
    o.shutdown().await;
}

impl Answer {
    fn json_as<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[tokio::test]
async fn latency_spares_healthz() {
    let latency = Duration::from_millis(300);
    let o = origin(OriginOptions {
        latency,
        ..Default::default()
    })
    .await;
    let c = client();
    let t = Instant::now();
    assert_eq!(
        get(&c, format!("{}/healthz", o.url())).await.status,
        StatusCode::OK
    );
    assert!(t.elapsed() < latency);
    let t = Instant::now();
    assert_eq!(
        get(&c, format!("{}/products/2", o.url())).await.status,
        StatusCode::OK
    );
    assert!(t.elapsed() >= latency);
    o.shutdown().await;
}

#[tokio::test]
async fn serves_h2c() {
    let o = origin(OriginOptions::default()).await;
    let c: HttpClient = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let r = get(&c, format!("{}/images/1.jpg", o.url())).await;
    assert_eq!((r.status, r.version), (StatusCode::OK, Version::HTTP_2));
    assert_eq!(r.body.len(), catalog::image_len(1));
    let head = send(
        &c,
        Method::HEAD,
        format!("{}/products/1", o.url()),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    o.shutdown().await;
}

#[tokio::test]
async fn drop_keeps_running_and_shutdown_is_bounded() {
    let o = origin(OriginOptions::default()).await;
    let addr = o.addr();
    let url = o.url();
    assert_eq!(url, format!("http://127.0.0.1:{}", addr.port()));
    let c = client();
    // A keep-alive connection and a half-sent request that would never finish on its own.
    assert_eq!(
        get(&c, format!("{url}/healthz")).await.status,
        StatusCode::OK
    );
    let mut stuck = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stuck, b"GET /products/1 HTTP/1.1\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    o.shutdown().await;
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    let mut buf = [0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut stuck, &mut buf)
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "connection should be closed");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // Dropping the handle leaves the origin serving.
    let o = origin(OriginOptions::default()).await;
    let url = o.url();
    drop(o);
    assert_eq!(
        get(&c, format!("{url}/healthz")).await.status,
        StatusCode::OK
    );
}
