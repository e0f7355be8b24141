//! The wasmtime engine policy, in one place (Spin's `crates/core` keeps it the
//! same way): what is enabled, what is limited, and the epoch ticker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{HostState, Plugin};

/// Component instances the pool holds (warm and in-flight fresh ones together).
const POOL_INSTANCES: u32 = 1000;

/// How much of each pooled linear memory stays resident (reset in place)
/// when its instance is dropped: a small Rust plugin touches its 1 MiB stack
/// and a few hundred KiB of data and heap.
const KEEP_RESIDENT: usize = 2 << 20;

/// The largest memory a plugin may be given (`max_memory_bytes` is validated against it).
pub const MAX_PLUGIN_MEMORY: usize = 1 << 30;

/// How often the epoch advances. Plugin deadlines are whole ticks, so this is
/// their resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The engine, the linker with the host imports, and the ticker thread.
/// Cloning shares them; the ticker stops when the last clone is dropped.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PluginEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PluginEngine")
    }
}

impl PluginEngine {
    /// Creates the engine.
    ///
    /// Policy:
    /// - component model on, everything compiled ahead of the first request
    ///   (`InstancePre` per plugin at load time);
    /// - epoch interruption on, with one ticker thread per engine (never a
    ///   timer per request): at every tick a running call yields to the
    ///   executor, and traps once its wall-clock deadline has passed, so an
    ///   endless loop neither hogs a worker thread nor outlives its deadline;
    /// - calls are async (the store runs on a fiber), which is also what lets
    ///   WASI's streams work inside the tokio runtime; the component-model
    ///   concurrency machinery (`call_async` through guest tasks) is off, as
    ///   plugins export plain functions: a call goes straight to the fiber;
    /// - fuel metering on, so a plugin may also be given an instruction budget
    ///   (plugins without one get an effectively unlimited budget);
    /// - the pooling instance allocator: instances, memories, tables and
    ///   fiber stacks come from pre-reserved slots, and a slot given back is
    ///   reset in place (only the pages the instance touched, found with
    ///   PAGEMAP_SCAN where the kernel has it) and kept resident, so a fresh
    ///   instance costs no mmap, madvise or page fault; memory is capped per
    ///   store by `StoreLimits`;
    /// - WASI is linked because Rust's std on wasip2 imports it, but every
    ///   store gets an empty context: no files, no network, no environment, no
    ///   inherited stdio.
    pub fn new() -> Result<PluginEngine, wasmtime::Error> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.concurrency_support(false);
        config.epoch_interruption(true);
        config.consume_fuel(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // For profiling: `/tmp/perf-<pid>.map` names the compiled guest code for `perf`.
        if std::env::var_os("BRINK_WASM_PERFMAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Instances, memories and async stacks come from pre-reserved pools,
        // so a fresh instance (per-request plugins, a replaced warm one) costs
        // no mmap/munmap. Memory per plugin is still capped per store.
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(POOL_INSTANCES)
            .total_core_instances(POOL_INSTANCES * 8)
            .total_memories(POOL_INSTANCES * 2)
            .total_tables(POOL_INSTANCES * 4)
            .total_stacks(POOL_INSTANCES)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_memory_size(MAX_PLUGIN_MEMORY)
            // A slot given back is reset by rewriting only the pages the
            // instance touched (found with PAGEMAP_SCAN where the kernel has
            // it) instead of `madvise`, so the next instance in that slot
            // takes no page faults for them.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        config.async_stack_size(1 << 20);
        config.max_wasm_stack(512 << 10);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), stop.clone());
        Ok(PluginEngine {
            inner: Arc::new(Inner {
                engine,
                linker,
                stop,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The linker holding WASI and the `host` interface.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::Builder::new()
        .name("brink-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("cannot spawn the epoch ticker thread");
}
