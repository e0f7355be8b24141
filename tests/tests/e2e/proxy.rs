//! Reverse proxying end to end: bodies stream both ways, hop-by-hop fields are
//! dropped, forwarding fields are added, every client protocol works, origin
//! failures map to 502 / 504, and a body that stalls is cut.

use brink::body::{Body, BoxError, full};
use brink_tests::{
    EXCHANGE_TIMEOUT, EchoOrigin, Fnv, HttpsConn, Reply, StallOrigin, TestCert, TestEdge, get,
    h1_client, h2c_client, pattern, refused_addr, send, url_addr, within,
};
use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Channel};

/// The `[name, value]` pairs the echo origin saw, names lower case.
fn echoed_headers(reply: &Reply) -> Vec<(String, String)> {
    let v = reply.json();
    v["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .map(|p| {
            (
                p[0].as_str().expect("name").to_string(),
                p[1].as_str().expect("value").to_string(),
            )
        })
        .collect()
}

fn echoed(reply: &Reply, name: &str) -> Option<String> {
    echoed_headers(reply)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

/// The response hop-by-hop fields the echo origin sends never reach the client.
fn assert_response_hop_by_hop_dropped(reply: &Reply) {
    for name in ["x-hop", "keep-alive", "proxy-authenticate"] {
        assert!(
            reply.header(name).is_none(),
            "response kept {name}: {:?}",
            reply.headers
        );
    }
    if let Some(c) = reply.header("connection") {
        assert!(
            !c.contains("x-hop") && !c.contains("close-me-not"),
            "connection: {c}"
        );
    }
    assert_eq!(reply.header("x-echo-kept"), Some("yes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_rewrites_headers_in_both_directions() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .name("edge-a")
        .start()
        .await;
    let req = Request::get(format!("{}/echo?x=1&y=two", edge.url()))
        .header("host", "shop.test")
        .header("x-forwarded-for", "10.0.0.1")
        .header("connection", "x-drop")
        .header("x-drop", "1")
        .header("keep-alive", "timeout=9")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic eDp5")
        .header("x-custom", "kept")
        .body(brink::body::empty())
        .unwrap();
    let reply = send(&h1_client(), req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.version, Version::HTTP_11);
    let v = reply.json();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/echo");
    assert_eq!(v["query"], "x=1&y=two");

    // Request: hop-by-hop fields (and those Connection names) are gone.
    let seen = echoed_headers(&reply);
    for name in [
        "connection",
        "x-drop",
        "keep-alive",
        "te",
        "proxy-authorization",
    ] {
        assert!(
            !seen.iter().any(|(n, _)| n == name),
            "origin saw {name}: {seen:?}"
        );
    }
    assert_eq!(echoed(&reply, "x-custom").as_deref(), Some("kept"));
    assert_eq!(echoed(&reply, "host").as_deref(), Some("shop.test"));
    assert_eq!(
        echoed(&reply, "x-forwarded-for").as_deref(),
        Some("10.0.0.1, 127.0.0.1")
    );
    assert_eq!(echoed(&reply, "x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        echoed(&reply, "x-forwarded-host").as_deref(),
        Some("shop.test")
    );
    let via = echoed(&reply, "via").expect("request Via");
    assert!(via.contains("1.1 edge-a"), "request via: {via}");

    // Response: hop-by-hop fields dropped, Via added.
    assert_response_hop_by_hop_dropped(&reply);
    let via = reply.header("via").expect("response Via");
    assert!(via.contains("edge-a"), "response via: {via}");
    assert_eq!(reply.header("x-echo-origin"), Some("echo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_set_when_the_client_sent_none() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new().origin(origin.url()).start().await;
    let reply = get(&h1_client(), &format!("{}/echo", edge.url())).await;
    assert_eq!(
        echoed(&reply, "x-forwarded-for").as_deref(),
        Some("127.0.0.1")
    );
    // The client's Host is forwarded, and as X-Forwarded-Host; the edge's
    // own port in it is read as no port (see request_identity.rs), so the
    // origin gets the host alone.
    let host = url_addr(edge.url()).ip().to_string();
    assert_eq!(echoed(&reply, "host"), Some(host.clone()));
    assert_eq!(echoed(&reply, "x-forwarded-host"), Some(host));
}

/// A streamed request body of `total` bytes in 64 KiB chunks, without a length.
fn chunked_body(data: Vec<u8>) -> Body {
    let (mut tx, rx) = Channel::<Bytes, BoxError>::new(2);
    tokio::spawn(async move {
        for chunk in data.chunks(64 * 1024) {
            if tx.send_data(Bytes::copy_from_slice(chunk)).await.is_err() {
                return;
            }
        }
    });
    rx.boxed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_post_bodies_arrive_intact() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new().origin(origin.url()).start().await;
    let client = h1_client();
    let data = pattern(4 * 1024 * 1024 + 17);
    let hash = Fnv::of(&data);

    // Streamed (chunked, no Content-Length).
    let req = Request::post(format!("{}/upload", edge.url()))
        .body(chunked_body(data.clone()))
        .unwrap();
    let reply = send(&client, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let v = reply.json();
    assert_eq!(v["body_len"], data.len() as u64);
    assert_eq!(v["body_hash"], hash);

    // With Content-Length.
    let req = Request::post(format!("{}/upload", edge.url()))
        .header("content-length", data.len())
        .body(full(data.clone()))
        .unwrap();
    let reply = send(&client, req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["body_len"], data.len() as u64);
    assert_eq!(reply.json()["body_hash"], hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_stream_before_the_origin_finishes() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new().origin(origin.url()).start().await;
    let url = format!("{}/stream?chunks=3&ms=10&gate=1", edge.url());
    let req = Request::get(url).body(brink::body::empty()).unwrap();
    let resp = within(EXCHANGE_TIMEOUT, "response head", h1_client().request(req))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The origin holds its last chunk until the gate opens, so the first
    // chunk can only arrive here if the edge streams.
    let first = within(
        EXCHANGE_TIMEOUT,
        "first chunk before the last is produced",
        async {
            loop {
                let frame = body.frame().await.expect("a frame").expect("frame ok");
                if let Some(d) = frame.data_ref() {
                    break d.clone();
                }
            }
        },
    )
    .await;
    assert!(first.starts_with(b"chunk 0"), "{first:?}");
    assert!(
        !origin.stream_done(),
        "the origin finished before the gate opened"
    );
    origin.open_gate();
    let rest = within(EXCHANGE_TIMEOUT, "rest of the stream", body.collect())
        .await
        .expect("body")
        .to_bytes();
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    assert!(
        all.ends_with(b"chunk 2\n"),
        "{}",
        String::from_utf8_lossy(&all)
    );
    assert!(origin.stream_done());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_proxied() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .name("edge-h2c")
        .start()
        .await;
    let client = h2c_client();
    let reply = get(&client, &format!("{}/echo?via=h2c", edge.url())).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.version, Version::HTTP_2);
    let v = reply.json();
    assert_eq!(v["query"], "via=h2c");
    // The origin is spoken to in HTTP/1.1; Via records the client's protocol.
    assert_eq!(v["version"], "HTTP/1.1");
    let via = echoed(&reply, "via").expect("via");
    assert!(via.contains("2 edge-h2c"), "{via}");
    assert_eq!(echoed(&reply, "x-forwarded-proto").as_deref(), Some("http"));
    assert!(
        echoed(&reply, "host").is_some(),
        "the :authority becomes Host"
    );
    assert_response_hop_by_hop_dropped(&reply);

    let data = pattern(300_000);
    let req = Request::post(format!("{}/upload", edge.url()))
        .body(chunked_body(data.clone()))
        .unwrap();
    let reply = send(&client, req).await;
    assert_eq!(reply.json()["body_hash"], Fnv::of(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_h2_alpn_is_proxied() {
    let cert = TestCert::generate();
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .name("edge-tls")
        .https(&cert)
        .start()
        .await;
    let addr = url_addr(edge.https_url());

    let mut conn = HttpsConn::connect(addr, "shop.test", &cert, &[b"h2", b"http/1.1"]).await;
    assert_eq!(conn.alpn(), Some(&b"h2"[..]));
    let req = Request::get("/echo?tls=1")
        .body(brink::body::empty())
        .unwrap();
    let reply = conn.send(req).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.version, Version::HTTP_2);
    assert_eq!(
        echoed(&reply, "x-forwarded-proto").as_deref(),
        Some("https")
    );
    let host = echoed(&reply, "host").expect("host");
    assert!(host.starts_with("shop.test"), "{host}");
    assert!(echoed(&reply, "via").expect("via").contains("2 edge-tls"));
    assert!(reply.header("via").expect("via").contains("edge-tls"));
    assert_response_hop_by_hop_dropped(&reply);

    // HTTP/1.1 over TLS when the client offers only that.
    let mut conn = HttpsConn::connect(addr, "localhost", &cert, &[b"http/1.1"]).await;
    assert_eq!(conn.alpn(), Some(&b"http/1.1"[..]));
    let req = Request::get("/echo").body(brink::body::empty()).unwrap();
    let reply = conn.send(req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.version, Version::HTTP_11);
    assert_eq!(
        echoed(&reply, "x-forwarded-proto").as_deref(),
        Some("https")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_uses_every_backend() {
    let a = EchoOrigin::named("a").await;
    let b = EchoOrigin::named("b").await;
    let edge = TestEdge::new()
        .origin(a.url())
        .origin(b.url())
        .start()
        .await;
    let client = h1_client();
    let mut names = Vec::new();
    for _ in 0..6 {
        let reply = get(&client, &format!("{}/echo", edge.url())).await;
        assert_eq!(reply.status, StatusCode::OK);
        names.push(
            reply
                .header("x-echo-origin")
                .expect("origin name")
                .to_string(),
        );
    }
    assert!(a.requests() > 0 && b.requests() > 0, "{names:?}");
    assert_eq!(a.requests() + b.requests(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_origin_connection_is_502() {
    let dead = refused_addr();
    let edge = TestEdge::new()
        .origin(format!("http://{dead}"))
        .pool_setting("connect_timeout = \"2s\"")
        .start()
        .await;
    let reply = get(&h1_client(), &format!("{}/anything", edge.url())).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{}", reply.text());
    assert!(
        reply.body.len() < 200,
        "short body expected: {}",
        reply.text()
    );
    assert!(
        !reply.text().contains(&dead.port().to_string()),
        "no internal detail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_origin_is_504() {
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .pool_setting("timeout = \"300ms\"")
        .start()
        .await;
    let reply = get(&h1_client(), &format!("{}/slow?ms=3000", edge.url())).await;
    assert_eq!(
        reply.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        reply.text()
    );
    assert!(reply.body.len() < 200, "{}", reply.text());
    // A fast request on the same edge still works.
    let reply = get(&h1_client(), &format!("{}/slow?ms=1", edge.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
}

/// A client that shuts down its sending side after a request (`nc -N`,
/// some HTTP/1.0 tools) still gets the whole response, from the origin and
/// then from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_client_gets_its_response() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = EchoOrigin::start().await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .config_toml("[routes.cache]\nforce_ttl = \"60s\"\n")
        .start()
        .await;
    for expect in ["fwd=uri-miss", "; hit"] {
        let mut tcp = tokio::net::TcpStream::connect(url_addr(edge.url()))
            .await
            .expect("connect");
        tcp.write_all(b"GET /echo/half-close HTTP/1.1\r\nHost: shop.test\r\n\r\n")
            .await
            .expect("request");
        tcp.shutdown().await.expect("half-close");
        let mut raw = Vec::new();
        within(EXCHANGE_TIMEOUT, "the response", tcp.read_to_end(&mut raw))
            .await
            .expect("response read");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(
            text.to_ascii_lowercase().contains(expect),
            "{expect}: {text}"
        );
    }
}

/// An origin that sends its head and 10 of 1000 bytes, then nothing: past
/// `body_timeout` the client's response is cut (the client sees a truncated
/// body, never a complete short one), the origin connection is closed, and
/// the backend has a failure on record. Not when the origin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_cut_after_body_timeout() {
    let origin = StallOrigin::start(&[]).await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .pool_setting("body_timeout = \"300ms\"")
        .config_toml("[routes.cache]\nenabled = false\n")
        .start()
        .await;
    let client = h1_client();
    for version in [Version::HTTP_11, Version::HTTP_2] {
        let client = if version == Version::HTTP_2 {
            h2c_client()
        } else {
            client.clone()
        };
        let req = Request::get(format!("{}/stalls", edge.url()))
            .body(brink::body::empty())
            .unwrap();
        let resp = within(EXCHANGE_TIMEOUT, "response head", client.request(req))
            .await
            .expect("response");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-length"], "1000");
        let body = within(
            std::time::Duration::from_secs(10),
            "the cut body ends, long before the origin closes",
            resp.into_body().collect(),
        )
        .await;
        assert!(body.is_err(), "{version:?}: a truncated body is an error");
    }
    brink_tests::eventually(
        std::time::Duration::from_secs(10),
        "the edge closed both stalled origin connections",
        || origin.closed() == 2,
    )
    .await;
    let metrics = get(&client, &format!("{}/metrics", edge.admin_url()))
        .await
        .text();
    let failures: u64 = metrics
        .lines()
        .find(|l| l.starts_with("brink_origin_backend_failures_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no failures line: {metrics}"));
    assert_eq!(failures, 2, "each stalled body counts as a failure");
    // The origin recovers: the same URL is answered whole.
    origin.recover();
    let reply = get(&client, &format!("{}/stalls", edge.url())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), 1000);
}
