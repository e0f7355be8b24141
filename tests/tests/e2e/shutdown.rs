//! Graceful shutdown of the real binary on SIGTERM: in-flight requests finish,
//! new connections are refused, the process exits 0.

use std::time::Duration;

use brink_tests::{
    BrinkProcess, EXCHANGE_TIMEOUT, EchoOrigin, eventually, get, h1_client, url_addr, within,
};
use http::StatusCode;

fn config(origin: &EchoOrigin) -> String {
    format!(
        r#"
[node]
name = "edge-shutdown"
region = "test"

[[listeners]]
address = "127.0.0.1:0"

[limits]
shutdown_grace = "8s"

[[pools]]
name = "echo"
backends = ["{}"]

[[routes]]
pool = "echo"
"#,
        origin.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_then_exits_0() {
    let origin = EchoOrigin::start().await;
    let brink = BrinkProcess::serve(&config(&origin));
    let url = brink.url().to_string();
    let addr = url_addr(&url);

    // Sanity: it serves.
    let reply = get(&h1_client(), &format!("{url}/echo")).await;
    assert_eq!(reply.status, StatusCode::OK);

    let slow = tokio::spawn({
        let url = url.clone();
        async move { get(&h1_client(), &format!("{url}/slow?ms=1500")).await }
    });
    eventually(
        EXCHANGE_TIMEOUT,
        "the slow request reaches the origin",
        || origin.in_flight() == 1,
    )
    .await;

    brink.sigterm();

    // New connections are refused once the listener is closed (while the
    // slow request is still in flight).
    within(
        EXCHANGE_TIMEOUT,
        "connections refused after SIGTERM",
        async {
            loop {
                match tokio::net::TcpStream::connect(addr).await {
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        },
    )
    .await;

    let reply = within(EXCHANGE_TIMEOUT, "the in-flight request", slow)
        .await
        .expect("slow request task");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.text(), "slow 1500\n");

    let status = brink.wait_exit_async(Duration::from_secs(8)).await;
    assert!(status.success(), "exit status {status}\n{}", brink.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_when_idle_exits_0() {
    let origin = EchoOrigin::start().await;
    let brink = BrinkProcess::serve(&config(&origin));
    brink.sigterm();
    let status = brink.wait_exit_async(Duration::from_secs(8)).await;
    assert!(status.success(), "exit status {status}\n{}", brink.stderr());
}
