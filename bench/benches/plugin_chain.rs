//! Cost per request of the demo chain auth + router + personalize, with warm
//! reused instances and with a fresh instance per call.
//!
//! `cargo bench -p brink-bench --bench plugin_chain`

use brink::plugin::{self, ClientFacts, Flow};
use brink_bench::{bench_token, demo_chain, fragment_request};
use criterion::{Criterion, criterion_group, criterion_main};

fn chain(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let token = bench_token();
    let client = ClientFacts {
        ip: "127.0.0.1".into(),
        region: "us-east".into(),
    };
    let mut group = c.benchmark_group("plugin_chain_on_request");
    for instance in ["reuse", "per-request"] {
        let set = rt.block_on(demo_chain(instance));
        group.bench_function(instance, |b| {
            b.to_async(&rt).iter(|| async {
                let mut parts = fragment_request(&token);
                let (flow, _) = plugin::on_request(
                    set.chain(0),
                    &mut parts,
                    "http",
                    "shop.test",
                    &client,
                    &|_| true,
                )
                .await
                .expect("chain runs");
                assert!(matches!(flow, Flow::Continue(_)));
                parts
            });
        });
    }
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
