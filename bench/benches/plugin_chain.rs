//! Cost per request of the demo chain auth + router + personalize, with warm
//! reused instances and with a fresh instance per call.
//!
//! `cargo bench -p brink-bench --bench plugin_chain`

// The allocator of the `brink` binary, so guest-independent host work costs
// here what it costs in the node.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use brink::plugin::{self, ClientFacts, Flow};
use brink_bench::{bench_token, demo_chain, fragment_request, trivial_chain};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn chain(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let token = bench_token();
    let client = ClientFacts {
        ip: "127.0.0.1".into(),
        region: "us-east".into(),
    };
    let mut group = c.benchmark_group("plugin_chain_on_request");
    for (name, instance, trivial) in [
        ("auth+router+personalize/reuse", "reuse", false),
        ("auth+router+personalize/per-request", "per-request", false),
        ("trivial/reuse", "reuse", true),
        ("trivial/per-request", "per-request", true),
    ] {
        let set = if trivial {
            rt.block_on(trivial_chain(instance))
        } else {
            rt.block_on(demo_chain(instance))
        };
        // Only the chain is timed: the request is made (and dropped) outside
        // the measurement, as in the node it comes from hyper's parser.
        let (set, client) = (&set, &client);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || fragment_request(&token),
                |mut parts| async move {
                    let (flow, _) = plugin::on_request(
                        set.chain(0),
                        &mut parts,
                        "http",
                        "shop.test",
                        client,
                        &|_| true,
                    )
                    .await
                    .expect("chain runs");
                    assert!(matches!(flow, Flow::Continue(_)));
                    parts
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
