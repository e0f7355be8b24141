//! A full cache keeps what is requested most: eviction by request count and
//! admission of a new object only when it beats what it would push out.

use brink::admin::AdminHandler;
use brink::config::Config;
use brink::node::Node;
use brink_tests::{Script, ScriptOrigin, cache_status, get, h1_client};
use http::StatusCode;

/// The value of the sample whose line starts with `prefix` (0 if absent).
fn sample(metrics: &str, prefix: &str) -> f64 {
    brink_tests::metric_sample(metrics, prefix).unwrap_or(0.0)
}

const CAPACITY: u64 = 1024 * 1024;
/// About a tenth of the cache: 8 objects fit (each weighs its body's size
/// class, 112 KiB, plus its fields, keys and bookkeeping).
const OBJECT: usize = 100 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn popular_objects_survive_a_scan_and_newcomers_get_in_once_popular() {
    let origin = ScriptOrigin::start().await;
    for i in 0..40 {
        origin.set(
            &format!("/img/{i}"),
            Script::cached(vec![b'x'; OBJECT], "max-age=600"),
        );
    }
    let text = format!(
        "[node]\nname = \"evict-edge\"\n\n[[listeners]]\naddress = \"127.0.0.1:0\"\n\n\
         [admin]\naddress = \"127.0.0.1:0\"\n\n\
         [cache]\ncapacity_bytes = {CAPACITY}\nmax_object_bytes = {CAPACITY}\n\n\
         [[pools]]\nname = \"default\"\nbackends = [{:?}]\n\n\
         [[routes]]\npath_prefix = \"/\"\npool = \"default\"\n",
        origin.url()
    );
    let config = Config::parse(&text, "<evict-test>", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("config: {e}\n{text}"));
    let node = Node::start(config)
        .await
        .expect("node starts")
        .with_admin(AdminHandler::new)
        .await
        .expect("admin starts");
    let url = node.listeners()[0].url();
    let admin = format!("http://{}", node.admin_addr().expect("admin"));
    let client = h1_client();
    let fetch = |path: String| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let r = get(&client, &format!("{url}{path}")).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert_eq!(r.body.len(), OBJECT, "{path}");
            cache_status(&r)
        }
    };

    // Three hot objects, 5 requests each: 1 miss, then hits.
    for i in 0..3 {
        for n in 0..5 {
            let status = fetch(format!("/img/{i}")).await;
            assert_eq!(status.contains("hit"), n > 0, "/img/{i} #{n}: {status}");
        }
    }
    // A scan of 30 objects requested once each: the first few fill the free
    // space, the rest are not admitted (they would push out hot objects).
    let mut not_admitted = 0;
    for i in 10..40 {
        let status = fetch(format!("/img/{i}")).await;
        assert!(status.contains("fwd=uri-miss"), "{status}");
        if status.contains("not-admitted") {
            assert!(!status.contains("stored"), "{status}");
            not_admitted += 1;
        }
    }
    assert!(not_admitted >= 20, "{not_admitted} of 30 not admitted");
    for i in 0..3 {
        let status = fetch(format!("/img/{i}")).await;
        assert!(
            status.contains("hit"),
            "hot /img/{i} after the scan: {status}"
        );
    }
    // A rejected object that keeps being requested gets in, evicting a
    // scanned one, and is a hit from then on.
    let mut got_in = false;
    for _ in 0..4 {
        let status = fetch("/img/39".into()).await;
        if status.contains("hit") {
            got_in = true;
            break;
        }
    }
    assert!(got_in, "/img/39 never admitted");

    let m = get(&client, &format!("{admin}/metrics")).await.text();
    assert!(sample(&m, "brink_cache_evictions ") >= 1.0, "{m}");
    assert!(sample(&m, "brink_cache_bytes ") <= CAPACITY as f64, "{m}");
    // The origin saw each hot object once.
    for i in 0..3 {
        assert_eq!(origin.count(&format!("/img/{i}")), 1);
    }
    node.shutdown().await;
}
