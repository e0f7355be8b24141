//! Request coalescing: concurrent misses for one key make one origin request,
//! a failing leader never leaves its waiters hanging, a leader stuck on a
//! stalled origin holds them no longer than `coalesce_timeout`, and a
//! response that may not be shared is not shared.

use std::collections::HashSet;
use std::time::Duration;

use brink_tests::{
    EdgeHandle, Reply, Script, ScriptOrigin, StallOrigin, TestEdge, cache_status, get, h1_client,
    within,
};
use http::StatusCode;
use http_body_util::BodyExt;

const N: usize = 100;
/// Upper bound for all N requests to complete (the origin takes ~300 ms).
const ALL_DONE: Duration = Duration::from_secs(30);

async fn edge(origin: &ScriptOrigin) -> EdgeHandle {
    TestEdge::new().origin(origin.url()).start().await
}

/// N concurrent GETs of `url`, each on the shared pooled client.
async fn burst(url: &str) -> Vec<Reply> {
    let client = h1_client();
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let client = client.clone();
            let url = url.to_string();
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    within(ALL_DONE, "every concurrent request completes", async {
        let mut out = Vec::with_capacity(N);
        for t in tasks {
            out.push(t.await.expect("request task"));
        }
        out
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_misses_make_one_origin_request() {
    let origin = ScriptOrigin::start().await;
    let body = "x".repeat(10_000);
    origin.set(
        "/hot",
        Script::cached(body.clone(), "max-age=60").delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let replies = burst(&format!("{}/hot", edge.url())).await;
    assert_eq!(origin.count("/hot"), 1, "exactly one origin request");
    let mut stored = 0;
    let mut collapsed = 0;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.len(), body.len());
        assert_eq!(r.text(), body);
        let cs = cache_status(r);
        if cs.contains("stored") {
            stored += 1;
        } else if cs.contains("collapsed") || cs.contains("; hit") {
            collapsed += 1;
        } else {
            panic!("unexpected Cache-Status {cs}");
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(collapsed, N - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_answered_503_no_store_releases_its_waiters() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/fail",
        Script::cached("down", "no-store")
            .status(503)
            .delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let replies = burst(&format!("{}/fail", edge.url())).await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    // Afterwards the origin recovers and the URL is cached normally.
    origin.set("/fail", Script::cached("up", "max-age=60"));
    let client = h1_client();
    let url = format!("{}/fail", edge.url());
    let before = origin.count("/fail");
    let r = get(&client, &url).await;
    assert_eq!(r.text(), "up");
    let r = get(&client, &url).await;
    assert_eq!(r.text(), "up");
    assert!(
        cache_status(&r).contains("; hit"),
        "a transient error does not keep the URL out of the cache: {}",
        cache_status(&r)
    );
    assert_eq!(origin.count("/fail"), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_another_variant_coalesce_on_their_own_key() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/v",
        Script::cached("v", "max-age=60")
            .header("vary", "Accept-Encoding")
            .delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let client = h1_client();
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let client = client.clone();
            let url = format!("{}/v", edge.url());
            let ae = if i % 2 == 0 { "gzip" } else { "br" };
            tokio::spawn(async move {
                let r = brink_tests::get_with(&client, &url, &[("accept-encoding", ae)]).await;
                (ae, r)
            })
        })
        .collect();
    let replies = within(ALL_DONE, "every concurrent request completes", async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    })
    .await;
    let mut seq_of = std::collections::HashMap::new();
    for (ae, r) in &replies {
        assert_eq!(r.status, StatusCode::OK);
        let seq = r.header("x-script-seq").expect("seq").to_string();
        assert_eq!(
            seq_of.entry(*ae).or_insert_with(|| seq.clone()),
            &seq,
            "one response per variant"
        );
    }
    assert_eq!(origin.count("/v"), 2, "one origin request per variant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_origin_is_down_releases_its_waiters() {
    let origin = ScriptOrigin::start().await;
    origin.set("/down", Script::cached("up", "max-age=60"));
    let edge = edge(&origin).await;
    origin.set_down(true).await;
    let replies = burst(&format!("{}/down", edge.url())).await;
    for r in &replies {
        assert!(
            matches!(r.status.as_u16(), 502..=504),
            "origin down: {}",
            r.status
        );
    }
    origin.set_down(false).await;
    let client = h1_client();
    let url = format!("{}/down", edge.url());
    let r = within(Duration::from_secs(20), "origin back", async {
        loop {
            let r = get(&client, &url).await;
            if r.status == StatusCode::OK {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(r.text(), "up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_failing_leader_releases_its_waiters() {
    // The leader's origin accepts, waits, then the origin goes down: the
    // exchange breaks mid-flight.
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/breaks",
        Script::cached("never", "max-age=60").delay(Duration::from_secs(2)),
    );
    let edge = TestEdge::new()
        .origin(origin.url())
        .pool_setting("retry = { attempts = 1 }")
        .start()
        .await;
    let url = format!("{}/breaks", edge.url());
    let burst = tokio::spawn(async move { burst(&url).await });
    brink_tests::eventually(
        Duration::from_secs(10),
        "the leader reached the origin",
        || origin.count("/breaks") >= 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    origin.set_down(true).await;
    let replies = burst.await.expect("burst");
    for r in &replies {
        assert!(
            matches!(r.status.as_u16(), 502..=504),
            "broken origin: {}",
            r.status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncacheable_response_is_not_shared() {
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/me",
        Script::cached("mine", "private, max-age=60").delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let replies = burst(&format!("{}/me", edge.url())).await;
    let mut seqs = HashSet::new();
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "mine");
        assert!(!cache_status(r).contains("stored"), "{}", cache_status(r));
        assert!(!cache_status(r).contains("; hit"), "{}", cache_status(r));
        seqs.insert(r.header("x-script-seq").expect("seq").to_string());
    }
    assert_eq!(seqs.len(), N, "every request got its own origin response");
    assert_eq!(origin.count("/me"), N as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_leader_with_authorization_fill_for_themselves() {
    // The leader's response may not be stored for it (Authorization, no
    // `public`), but it may for the others: they make one fill of their own
    // and share it, instead of each going to the origin.
    let origin = ScriptOrigin::start().await;
    origin.set(
        "/shared",
        Script::cached("shared", "max-age=60").delay(Duration::from_millis(300)),
    );
    let edge = edge(&origin).await;
    let url = format!("{}/shared", edge.url());
    let leader = {
        let url = url.clone();
        tokio::spawn(async move {
            brink_tests::get_with(&h1_client(), &url, &[("authorization", "Bearer x")]).await
        })
    };
    brink_tests::eventually(
        Duration::from_secs(10),
        "the authorized request reached the origin",
        || origin.count("/shared") >= 1,
    )
    .await;
    let replies = burst(&url).await;
    let leader = leader.await.expect("leader");
    assert_eq!(leader.text(), "shared");
    assert!(
        !cache_status(&leader).contains("stored"),
        "{}",
        cache_status(&leader)
    );
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.text(), "shared");
    }
    assert_eq!(
        origin.count("/shared"),
        2,
        "the authorized request and one fill for the others"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_of_a_stalled_fill_fetch_for_themselves_after_coalesce_timeout() {
    // A cacheable answer whose body stalls after 10 of 1000 bytes. The
    // leader's fill is stuck until body_timeout (3 s); its waiters stop
    // waiting after coalesce_timeout (300 ms) and each asks the origin.
    let origin = StallOrigin::start(&[("cache-control", "max-age=60")]).await;
    let edge = TestEdge::new()
        .origin(origin.url())
        .pool_setting("body_timeout = \"3s\"")
        .pool_setting("coalesce_timeout = \"300ms\"")
        .start()
        .await;
    let url = format!("{}/stalls", edge.url());
    let client = h1_client();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let req = http::Request::get(url).body(brink::body::empty()).unwrap();
                let resp = client.request(req).await.expect("response head");
                let status = resp.status();
                let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                (status, body)
            })
        })
        .collect();
    // Every request reached the origin while the leader's stalled exchange
    // was still open: the waiters did not wait for it to fail.
    brink_tests::eventually(Duration::from_secs(10), "five origin requests", || {
        origin.requests() >= 5
    })
    .await;
    assert_eq!(
        origin.closed(),
        0,
        "the waiters asked before the leader's body timed out"
    );
    let replies = within(Duration::from_secs(10), "every request ends", async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("request task"));
        }
        out
    })
    .await;
    let mut timeouts = 0;
    for (status, body) in &replies {
        match status.as_u16() {
            // The leader buffers the fill: its client gets a 504.
            504 => timeouts += 1,
            // The others stream: a cut body, never a complete short one.
            200 => assert!(body.is_err(), "truncated, not complete: {body:?}"),
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(timeouts >= 1, "the leader's fill timed out");
    assert_eq!(origin.requests(), 5);
    // The origin recovers: nothing broken was stored, the next request
    // fills the cache and the one after is a hit.
    origin.recover();
    let r = get(&client, &url).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.len(), 1000);
    assert!(!cache_status(&r).contains("; hit"), "{}", cache_status(&r));
    let r = get(&client, &url).await;
    assert_eq!(r.body.len(), 1000);
    assert!(cache_status(&r).contains("; hit"), "{}", cache_status(&r));
}
