//! Hostile inputs to the cache: huge and malformed `Cache-Control`,
//! conflicting duplicated directives, `Vary` with hundreds of fields, keys
//! differing only in host case or percent-encoding. Nothing crashes, nothing
//! is poisoned (a later well-formed request gets the right body), and the
//! node keeps answering. One client's request (its `Authorization`,
//! `Cookie` or directives) never makes a URL uncached for the others.

use std::time::Duration;

use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, TestEdge, cache_status, get, get_with, h1_client,
};
use http::StatusCode;

async fn edge(origin: &ScriptOrigin) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

fn seq(reply: &Reply) -> &str {
    reply.header("x-script-seq").unwrap_or("-")
}

/// `n` bytes of deterministic directive-shaped junk (printable ASCII only).
fn junk(n: usize, mut seed: u64) -> String {
    const PIECES: &[&str] = &[
        "max-age",
        "s-maxage",
        "no-cache",
        "private",
        "no-store",
        "public",
        "stale-while-revalidate",
        "stale-if-error",
        "must-revalidate",
        "max-stale",
        "min-fresh",
        "only-if-cached",
        "=",
        "=\"",
        "\"",
        "\\",
        ",",
        ", ",
        ";",
        " ",
        "-1",
        "0",
        "99999999999999999999999",
        "1.5",
        "\"a, b\"",
        "%00",
        "*",
        "(",
        "}",
        "x-junk",
    ];
    let mut s = String::with_capacity(n + 32);
    while s.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        s.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
    }
    s.truncate(n);
    s.trim_end().to_string()
}

/// The node still answers: admin health and a well-formed cached request.
async fn still_healthy(edge: &EdgeHandle, origin: &ScriptOrigin) {
    let client = h1_client();
    let r = get(&client, &format!("{}/healthz", edge.admin_url())).await;
    assert_eq!(r.status, StatusCode::OK);
    origin.set("/well-formed", Script::cached("fine", "max-age=60"));
    for _ in 0..2 {
        let r = get(&client, &format!("{}/well-formed", edge.url())).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "fine");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_16k_cache_control_of_junk() {
    let origin = ScriptOrigin::start().await;
    let edge = edge(&origin).await;
    let client = h1_client();
    for i in 0..8u64 {
        let path = format!("/junk/{i}");
        origin.set(
            &path,
            Script::ok(format!("body {i}"))
                .header("cache-control", junk(16 * 1024, 0x9e37_79b9 + i))
                .header("cdn-cache-control", junk(512, 7 + i))
                .header("surrogate-control", junk(512, 11 + i)),
        );
        for _ in 0..2 {
            let r = get(&client, &format!("{}{path}", edge.url())).await;
            assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
            assert_eq!(r.text(), format!("body {i}"));
        }
    }
    // Junk in the request's own directives (under the 32 KiB head limit).
    // It may well contain `no-store` and `only-if-cached` (504): anything
    // else is answered with the right body.
    origin.set("/plain", Script::cached("plain", "max-age=60"));
    get(&client, &format!("{}/plain", edge.url())).await;
    for i in 0..8u64 {
        let cc = junk(16 * 1024, 99 + i);
        let r = get_with(
            &client,
            &format!("{}/plain", edge.url()),
            &[
                ("cache-control", cc.as_str()),
                ("pragma", "no-cache, junk=\""),
            ],
        )
        .await;
        if r.status == StatusCode::GATEWAY_TIMEOUT {
            assert!(cc.contains("only-if-cached"), "{}", cache_status(&r));
            continue;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", cache_status(&r));
        assert_eq!(r.text(), "plain");
    }
    still_healthy(&edge, &origin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_duplicated_directives_take_the_restrictive_reading() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/two-lines",
        Script::cached("x", "max-age=600").header("cache-control", "no-store"),
    );
    origin.set("/two-ages", Script::cached("x", "max-age=600, max-age=0"));
    origin.set(
        "/public-private",
        Script::cached("x", "public, max-age=600, private"),
    );
    origin.set("/bad-age", Script::cached("x", "max-age=\"ten\""));
    origin.set("/negative", Script::cached("x", "max-age=-5"));
    origin.set(
        "/expires-twice",
        Script::ok("x")
            .header(
                "expires",
                brink_tests::http_date_ago(Duration::from_secs(0)),
            )
            .header("expires", "Thu, 01 Jan 2099 00:00:00 GMT"),
    );
    // Two max-ages, the smaller still long: stored with the smaller.
    origin.set(
        "/both-long",
        Script::cached("x", "max-age=900, max-age=300"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    for path in [
        "/two-lines",
        "/two-ages",
        "/public-private",
        "/bad-age",
        "/negative",
        "/expires-twice",
    ] {
        for _ in 0..2 {
            let r = get(&client, &format!("{}{path}", edge.url())).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.text(), "x");
        }
        assert_eq!(origin.count(path), 2, "{path} served from the cache");
    }
    get(&client, &format!("{}/both-long", edge.url())).await;
    let r = get(&client, &format!("{}/both-long", edge.url())).await;
    let cs = cache_status(&r);
    let ttl: i64 = cs
        .rsplit("ttl=")
        .next()
        .and_then(|t| t.split(';').next())
        .and_then(|t| t.trim().parse().ok())
        .expect("ttl");
    assert!(cs.contains("; hit") && (290..=300).contains(&ttl), "{cs}");
    still_healthy(&edge, &origin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vary_with_hundreds_of_fields_is_not_stored() {
    let origin = ScriptOrigin::start().await;
    let fields: Vec<String> = (0..300).map(|i| format!("X-F{i}")).collect();
    origin.set(
        "/vary300",
        Script::cached("v", "max-age=600").header("vary", fields.join(", ")),
    );
    // 80 repeated lines of the same field (the origin connection takes at
    // most 100 header lines): only one distinct field.
    let mut repeated = Script::cached("r", "max-age=600");
    for _ in 0..80 {
        repeated = repeated.header("vary", "Accept-Language");
    }
    origin.set("/vary-repeated", repeated);
    let edge = edge(&origin).await;
    let client = h1_client();
    let headers: Vec<(String, String)> = (0..40)
        .map(|i| (format!("x-f{i}"), format!("value-{i}")))
        .collect();
    let hdrs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for _ in 0..3 {
        let r = get_with(&client, &format!("{}/vary300", edge.url()), &hdrs).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "v");
        assert!(!cache_status(&r).contains("stored"), "{}", cache_status(&r));
    }
    assert_eq!(origin.count("/vary300"), 3);

    let url = format!("{}/vary-repeated", edge.url());
    let r = get_with(&client, &url, &[("accept-language", "de")]).await;
    assert_eq!(seq(&r), "1");
    let r = get_with(&client, &url, &[("accept-language", "de")]).await;
    assert_eq!(seq(&r), "1");
    let r = get_with(&client, &url, &[("accept-language", "fr")]).await;
    assert_eq!(seq(&r), "2");
    still_healthy(&edge, &origin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_differing_in_host_case_or_encoding_do_not_poison() {
    let origin = ScriptOrigin::start().await;
    origin.set("/h", Script::cached("host", "max-age=600"));
    origin.set("/enc/a/b", Script::cached("real slash", "max-age=600"));
    origin.set("/enc/~user", Script::cached("tilde", "max-age=600"));
    origin.set(
        "/tenant",
        Script::cached("t", "max-age=600").header("vary", "X-Tenant"),
    );
    let edge = edge(&origin).await;
    let client = h1_client();

    // Host case does not split the cache...
    let url = format!("{}/h", edge.url());
    let r = get_with(&client, &url, &[("host", "Shop.EXAMPLE")]).await;
    assert_eq!(seq(&r), "1");
    let r = get_with(&client, &url, &[("host", "shop.example")]).await;
    assert_eq!(seq(&r), "1");
    assert!(cache_status(&r).contains("; hit"));
    // ...but another host is another key.
    let r = get_with(&client, &url, &[("host", "other.example")]).await;
    assert_eq!(seq(&r), "2");

    // Spellings of one path are one resource (an encoded unreserved
    // character is decoded before the key and the origin see it); an
    // encoded slash is refused, in any order, repeatedly (see
    // request_identity.rs for every rule).
    for _ in 0..2 {
        for (path, status, body) in [
            ("/enc/a%2Fb", 400u16, None),
            ("/enc/a/b", 200, Some("real slash")),
            ("/enc/%7Euser", 200, Some("tilde")),
            ("/enc/~user", 200, Some("tilde")),
        ] {
            let r = get(&client, &format!("{}{path}", edge.url())).await;
            assert_eq!(r.status, status, "{path}");
            if let Some(body) = body {
                assert_eq!(r.text(), body, "{path}");
            }
        }
    }
    assert_eq!(origin.count("/enc/a%2Fb") + origin.count("/enc/%7Euser"), 0);
    assert_eq!(origin.count("/enc/~user"), 1);

    // A Vary'd header cannot smuggle a key separator or collide.
    let url = format!("{}/tenant", edge.url());
    let tenants = [
        "good",
        "evil%0Avary=x-tenant:good",
        "good ",
        "GOOD",
        "\"good\"",
    ];
    let mut seen = Vec::new();
    for t in tenants {
        let r = get_with(&client, &url, &[("x-tenant", t)]).await;
        assert_eq!(r.status, StatusCode::OK);
        seen.push(seq(&r).to_string());
    }
    // "good" and "good " normalise to one value; the others are distinct.
    assert_eq!(seen[0], "1");
    assert_eq!(seen[2], "1", "trailing space trimmed");
    let distinct: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 4, "{seen:?}");
    let r = get_with(&client, &url, &[("x-tenant", "good")]).await;
    assert_eq!(seq(&r), "1", "no poisoning of the good variant");

    // Hostile Accept-Encoding on a Vary: Accept-Encoding resource.
    origin.set(
        "/ae",
        Script::cached("ae", "max-age=600").header("vary", "Accept-Encoding"),
    );
    let url = format!("{}/ae", edge.url());
    for ae in [
        "gzip;q=2",
        "br;q=abc, gzip;q=0.0001",
        ";;;,,,",
        "*;q=0",
        "identity;q=0, *;q=0",
        &"gzip, ".repeat(2000),
    ] {
        let r = get_with(&client, &url, &[("accept-encoding", ae)]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "ae");
    }
    assert!(
        origin.count("/ae") <= 3,
        "at most br, gzip and identity entries"
    );
    still_healthy(&edge, &origin).await;
}

/// Requests that fetch a cacheable URL (`max-age=60`, no `public`) without
/// storing it, or storing it for everyone: either way the anonymous requests
/// that follow are cached (one fill, then hits), never hit-for-pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_clients_request_does_not_make_a_url_pass_for_everyone() {
    let origin = ScriptOrigin::start().await;
    let edge = edge(&origin).await;
    let client = h1_client();
    let cases: [(&str, (&str, &str)); 5] = [
        ("/authorized", ("authorization", "x")),
        ("/no-cache", ("cache-control", "no-cache")),
        ("/no-store", ("cache-control", "no-store")),
        ("/max-age-0", ("cache-control", "max-age=0")),
        ("/cookie", ("cookie", "session=1")),
    ];
    for (path, field) in cases {
        origin.set(
            path,
            Script::cached(format!("body of {path}"), "max-age=60"),
        );
        let url = format!("{}{path}", edge.url());
        let r = get_with(&client, &url, &[field]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.text(), format!("body of {path}"));
        for i in 0..10 {
            let r = get(&client, &url).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.text(), format!("body of {path}"));
            if i > 0 {
                assert!(
                    cache_status(&r).contains("; hit"),
                    "{path}, anonymous request {i}: {}",
                    cache_status(&r)
                );
            }
        }
        assert!(
            origin.count(path) <= 2,
            "{path}: {} origin fetches",
            origin.count(path)
        );
    }
}

/// A `private` answer to a request with credentials may be private because
/// of them: it does not make the URL pass for requests without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_answer_to_credentials_does_not_pass_the_anonymous() {
    let origin = ScriptOrigin::start().await;
    let edge = edge(&origin).await;
    let client = h1_client();
    for (path, field) in [
        ("/cookie", ("cookie", "session=1")),
        ("/authorized", ("authorization", "x")),
    ] {
        let url = format!("{}{path}", edge.url());
        origin.set(path, Script::cached("yours", "private, max-age=60"));
        let r = get_with(&client, &url, &[field]).await;
        assert_eq!(r.text(), "yours");
        assert!(
            cache_status(&r).contains("detail=private"),
            "{}",
            cache_status(&r)
        );
        // The anonymous answer is cacheable: filled once, then hits.
        origin.set(path, Script::cached("everyone's", "max-age=60"));
        let before = origin.count(path);
        for i in 0..5 {
            let r = get(&client, &url).await;
            assert_eq!(r.text(), "everyone's");
            if i > 0 {
                assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
            }
        }
        assert_eq!(origin.count(path), before + 1, "{path}");
    }
}

/// What was there before keeps working: a `private` answer to an anonymous
/// request is private for everyone, and the URL goes hit-for-pass (it is
/// neither stored nor coalesced for a while, even if the next answer could
/// be stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_response_makes_the_url_pass_for_everyone() {
    let origin = ScriptOrigin::start().await;
    let edge = edge(&origin).await;
    let client = h1_client();
    let url = format!("{}/private", edge.url());
    origin.set("/private", Script::cached("mine", "private, max-age=60"));
    for _ in 0..11 {
        let r = get(&client, &url).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "mine");
        assert!(!cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    }
    assert_eq!(origin.count("/private"), 11);
    // Now cacheable, but the URL is in hit-for-pass (30 s): fetched, not stored.
    origin.set("/private", Script::cached("now public", "max-age=60"));
    for _ in 0..3 {
        let r = get(&client, &url).await;
        assert_eq!(r.text(), "now public");
        assert!(!cache_status(&r).contains("; hit"), "{}", cache_status(&r));
        assert!(!cache_status(&r).contains("stored"), "{}", cache_status(&r));
    }
    assert_eq!(origin.count("/private"), 14);
}
