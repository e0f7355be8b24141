//! A plain loop over the plugin chain, for `perf record` (criterion's own
//! work and the start-up compile stay out of the profile).
//!
//! `plugin_profile [reuse|per-request] [demo|trivial] [seconds] [guest-dir]`
//!
//! With `guest-dir` the demo plugins are loaded from `<dir>/brink_*.wasm`
//! (an unstripped build names the guest functions); with
//! `BRINK_WASM_PERFMAP=1` wasmtime writes `/tmp/perf-<pid>.map` so perf
//! names the compiled guest code.

use std::time::{Duration, Instant};

use brink::plugin::{self, ClientFacts, Flow};
use brink_bench::{bench_token, demo_chain, demo_config, fragment_request, load, trivial_chain};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let instance = args.first().map_or("reuse", String::as_str).to_owned();
    let chain = args.get(1).map_or("demo", String::as_str).to_owned();
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let dir = args.get(3).cloned();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let set = rt.block_on(async {
        match (chain.as_str(), &dir) {
            ("trivial", _) => trivial_chain(&instance).await,
            (_, Some(dir)) => {
                load(&demo_config(&instance, |n| format!("{dir}/brink_{n}.wasm"))).await
            }
            _ => demo_chain(&instance).await,
        }
    });
    let token = bench_token();
    let client = ClientFacts {
        ip: "127.0.0.1".into(),
        region: "us-east".into(),
    };
    let n = rt.block_on(async {
        let start = Instant::now();
        let mut n = 0u64;
        let mut worst = Duration::ZERO;
        let mut failed = 0u64;
        while start.elapsed() < Duration::from_secs_f64(secs) {
            for _ in 0..100 {
                let mut parts = fragment_request(&token);
                let t = Instant::now();
                let r = plugin::on_request(
                    set.chain(0),
                    &mut parts,
                    "http",
                    "shop.test",
                    &client,
                    &|_| true,
                )
                .await;
                worst = worst.max(t.elapsed());
                match r {
                    Ok((flow, _)) => assert!(matches!(flow, Flow::Continue(_))),
                    Err(e) => {
                        failed += 1;
                        if failed < 5 {
                            eprintln!("after {n} requests, in {:?}: {e}", t.elapsed());
                        }
                    }
                }
                n += 1;
            }
        }
        println!("worst {worst:?}, {failed} failed");
        n
    });
    println!(
        "{instance} {chain}: {n} requests, {:.2} us each",
        secs * 1e6 / n as f64
    );
}
