//! The wasmtime engine policy, in one place (Spin's `crates/core` keeps it the
//! same way): what is enabled, what is limited, and the epoch ticker.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{HostState, v1, v2};

/// Component instances the pool holds (warm and in-flight fresh ones together).
const POOL_INSTANCES: u32 = 1000;

/// How much of each pooled linear memory stays resident (reset in place)
/// when its instance is dropped: a small Rust plugin touches its 1 MiB stack
/// and a few hundred KiB of data and heap.
const KEEP_RESIDENT: usize = 2 << 20;

pub use crate::config::MAX_PLUGIN_MEMORY;

/// How often the epoch advances. Plugin deadlines are whole ticks, so this is
/// their resolution.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The engines, their linkers with the host imports, and the ticker thread.
/// Cloning shares them; the ticker stops when the last clone is dropped.
#[derive(Clone)]
pub struct PluginEngine {
    inner: Arc<Inner>,
}

/// One wasmtime engine and the linker holding WASI and the `host` interface.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
}

impl Runtime {
    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker holding WASI and the `host` interface.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }
}

struct Inner {
    /// For plugins without a fuel budget: no fuel instrumentation.
    plain: Runtime,
    /// For plugins with `fuel`: made the first time one is loaded.
    metered: Arc<OnceLock<Runtime>>,
    ticker: Arc<Ticker>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.ticker.thread.get() {
            t.unpark();
        }
    }
}

/// The ticker's state: it parks after [`IDLE_TICKS`] ticks without a plugin
/// running or starting (a node without plugins, or routes without them, then
/// pays no wake-up every millisecond), and a starting call wakes it.
#[derive(Default)]
struct Ticker {
    /// Calls and instantiations: started so far (high 32 bits, wrapping)
    /// and running now (low 32 bits), in one word so a call costs one
    /// read-modify-write to start and one to end.
    activity: AtomicU64,
    parked: AtomicBool,
    stop: AtomicBool,
    thread: OnceLock<std::thread::Thread>,
}

/// Ticks without plugin activity before the ticker parks.
const IDLE_TICKS: u32 = 1000;

/// One call or instantiation in [`Ticker::activity`]: started and running.
const START: u64 = (1 << 32) | 1;

/// The calls started and running in an [`Ticker::activity`] word.
fn split(activity: u64) -> (u64, u64) {
    (activity >> 32, activity & 0xffff_ffff)
}

/// Held while guest code may run: keeps the ticker ticking.
pub(super) struct Running<'a>(&'a Ticker);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.activity.fetch_sub(1, Ordering::SeqCst);
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
    /// - two wasmtime engines: fuel metering instruments every basic block of
    ///   the compiled code (about 13% of the demo chain's time), so only
    ///   plugins given a `fuel` budget are compiled with it, by a second
    ///   engine made the first time such a plugin is loaded;
    /// - the plain engine uses the pooling instance allocator: instances,
    ///   memories, tables and fiber stacks come from pre-reserved slots, and
    ///   a slot given back is reset in place (only the pages the instance
    ///   touched, found with PAGEMAP_SCAN where the kernel has it) and kept
    ///   resident, so a fresh instance costs no mmap, madvise or page fault.
    ///   The metered engine, for the rare plugin with a budget, allocates on
    ///   demand and so reserves nothing up front. Memory is capped per store
    ///   by `StoreLimits`;
    /// - WASI is linked because Rust's std on wasip2 imports it, but every
    ///   store gets an empty context: no files, no network, no environment, no
    ///   inherited stdio.
    pub fn new() -> Result<PluginEngine, wasmtime::Error> {
        let plain = Runtime::new(false)?;
        let metered = Arc::new(OnceLock::new());
        let ticker = Arc::new(Ticker::default());
        spawn_ticker(plain.engine.clone(), metered.clone(), ticker.clone());
        Ok(PluginEngine {
            inner: Arc::new(Inner {
                plain,
                metered,
                ticker,
            }),
        })
    }

    /// Marks guest code as running until the guard drops (the epoch must
    /// advance for its deadline), waking the ticker if it was parked.
    pub(super) fn running(&self) -> Running<'_> {
        let t = &*self.inner.ticker;
        t.activity.fetch_add(START, Ordering::SeqCst);
        if t.parked.load(Ordering::SeqCst)
            && t.parked.swap(false, Ordering::SeqCst)
            && let Some(thread) = t.thread.get()
        {
            thread.unpark();
        }
        Running(t)
    }

    /// The runtime for plugins with a fuel budget (`metered`) or without.
    pub fn runtime(&self, metered: bool) -> Result<&Runtime, wasmtime::Error> {
        if !metered {
            return Ok(&self.inner.plain);
        }
        if let Some(r) = self.inner.metered.get() {
            return Ok(r);
        }
        // Two loads racing here both build one; the first set wins.
        let _ = self.inner.metered.set(Runtime::new(true)?);
        Ok(self
            .inner
            .metered
            .get()
            .expect("the metered runtime was set above"))
    }
}

impl Runtime {
    fn new(metered: bool) -> Result<Runtime, wasmtime::Error> {
        // Only the plain engine pools. Its reservation (address space for
        // every slot, terabytes of it) is refused where the address space is
        // limited (`ulimit -v`, `vm.overcommit_memory = 2`, valgrind); the
        // node then allocates on demand rather than not start.
        let engine = match Engine::new(&engine_config(metered, !metered)) {
            Ok(engine) => engine,
            Err(e) if !metered => {
                tracing::warn!(
                    "plugin instance pool not available ({e:#}); plugin instances are allocated on demand"
                );
                Engine::new(&engine_config(false, false))?
            }
            Err(e) => return Err(e),
        };
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Both contract versions' imports: a plugin built for either links.
        v1::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        v2::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        Ok(Runtime { engine, linker })
    }
}

/// The wasmtime settings of an engine, with or without fuel metering and
/// the pooling instance allocator.
fn engine_config(metered: bool, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.concurrency_support(false);
    config.epoch_interruption(true);
    config.consume_fuel(metered);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // For profiling: `/tmp/perf-<pid>.map` names the compiled guest code for `perf`.
    if std::env::var_os("BRINK_WASM_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        // Instances, memories and async stacks come from pre-reserved
        // pools, so a fresh instance (per-request plugins, a replaced warm
        // one) costs no mmap/munmap. Memory per plugin is still capped
        // per store.
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
            // instance touched (found with PAGEMAP_SCAN where the kernel
            // has it) instead of `madvise`, so the next instance in that
            // slot takes no page faults for them.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    config.async_stack_size(1 << 20);
    config.max_wasm_stack(512 << 10);
    config
}

fn spawn_ticker(plain: Engine, metered: Arc<OnceLock<Runtime>>, ticker: Arc<Ticker>) {
    let t = ticker.clone();
    let handle = std::thread::Builder::new()
        .name("brink-epoch".into())
        .spawn(move || {
            let mut seen = split(t.activity.load(Ordering::SeqCst)).0;
            let mut idle = 0;
            while !t.stop.load(Ordering::SeqCst) {
                std::thread::sleep(EPOCH_TICK);
                plain.increment_epoch();
                if let Some(m) = metered.get() {
                    m.engine.increment_epoch();
                }
                let (started, running) = split(t.activity.load(Ordering::SeqCst));
                if started != seen || running > 0 {
                    seen = started;
                    idle = 0;
                    continue;
                }
                idle += 1;
                if idle < IDLE_TICKS {
                    continue;
                }
                // Announce the park, then look again: a call starting now
                // either is seen here or sees `parked` and unparks us.
                t.parked.store(true, Ordering::SeqCst);
                if split(t.activity.load(Ordering::SeqCst)) == (seen, 0)
                    && !t.stop.load(Ordering::SeqCst)
                {
                    std::thread::park();
                }
                t.parked.store(false, Ordering::SeqCst);
                idle = 0;
            }
        })
        .expect("cannot spawn the epoch ticker thread");
    let _ = ticker.thread.set(handle.thread().clone());
}
