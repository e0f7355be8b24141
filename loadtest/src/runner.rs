//! Driving the load: closed loop (virtual users) or open loop (target rate).

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::HttpClient;
use super::recorder::{Outcome, Recorder};
use super::status::Tier;
use super::trace::TraceEntry;
use super::workload::{Personas, Request, User, ZipfWorkload, trace_request};

/// A request sent this long after its scheduled time counts as late (open loop).
pub const LATE_AFTER: Duration = Duration::from_millis(10);

/// What requests are made of.
#[derive(Debug, Clone)]
pub enum Source {
    /// The synthetic Zipf workload; each user sends to its own region.
    Zipf(Arc<ZipfWorkload>),
    /// Replay of a trace, entry `i` going to region `i % regions`.
    Trace {
        /// The entries (cycled through when more requests are wanted).
        entries: Arc<Vec<TraceEntry>>,
        /// Credentials and segments.
        personas: Personas,
    },
}

impl Source {
    fn segments(&self) -> usize {
        match self {
            Source::Zipf(w) => w.personas().segments(),
            Source::Trace { personas, .. } => personas.segments(),
        }
    }
}

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// `concurrency` virtual users, each sending its next request when the
    /// previous one completes.
    Closed {
        /// Virtual users (spread over the regions round-robin).
        concurrency: usize,
    },
    /// Requests start at `rate` per second whatever the responses do; at most
    /// `max_in_flight` at once (arrivals beyond are dropped and counted).
    Open {
        /// Requests per second.
        rate: f64,
        /// Most requests in flight.
        max_in_flight: usize,
    },
}

/// When to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests.
    Requests(u64),
    /// After this long (requests in flight then still complete).
    Duration(Duration),
}

/// A run to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL of each region's edge, by region index.
    pub bases: Vec<String>,
    /// What to request.
    pub source: Source,
    /// How.
    pub load: Load,
    /// Until when.
    pub stop: Stop,
    /// RNG seed: the same seed gives every user the same request sequence.
    pub seed: u64,
    /// Show a progress bar on stderr (only when stderr is a terminal).
    pub progress: bool,
}

/// Live counters for the progress bar.
#[derive(Debug, Default)]
struct Live {
    done: AtomicU64,
    hits: AtomicU64,
    failed: AtomicU64,
}

struct Ctx {
    plan: Plan,
    client: HttpClient,
    start: Instant,
    issued: AtomicU64,
    live: Live,
}

impl Ctx {
    fn regions(&self) -> usize {
        self.plan.bases.len()
    }

    /// The region and request number `i` of `user`.
    fn request(&self, i: u64, user: &User, rng: &mut StdRng) -> (usize, Request) {
        match &self.plan.source {
            Source::Zipf(w) => (user.region, w.next(user, rng)),
            Source::Trace { entries, personas } => {
                let region = (i % self.regions() as u64) as usize;
                let entry = &entries[(i % entries.len() as u64) as usize];
                let user = User {
                    region,
                    segment: user.segment,
                };
                (region, trace_request(entry, &user, personas))
            }
        }
    }

    fn may_start(&self, i: u64) -> bool {
        match self.plan.stop {
            Stop::Requests(n) => i < n,
            Stop::Duration(d) => self.start.elapsed() < d,
        }
    }

    fn count(&self, o: &Outcome) {
        self.live.done.fetch_add(1, Ordering::Relaxed);
        match &o.result {
            Ok(a) if a.cache.tier == Tier::Edge => {
                self.live.hits.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {}
            Err(_) => {
                self.live.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// SplitMix64: decorrelated per-user seeds from one seed.
fn mix_seed(seed: u64, stream: u64) -> u64 {
    let mut z = seed.wrapping_add(stream.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs the plan; returns what was recorded and the wall-clock time.
pub async fn run(plan: Plan, client: HttpClient) -> (Recorder, Duration) {
    let regions = plan.bases.len().max(1);
    let ctx = Arc::new(Ctx {
        plan,
        client,
        start: Instant::now(),
        issued: AtomicU64::new(0),
        live: Live::default(),
    });
    let bar = progress_bar(&ctx.plan);
    let ticker = {
        let ctx = Arc::clone(&ctx);
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                tick(&ctx, &bar);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let rec = match ctx.plan.load {
        Load::Closed { concurrency } => closed(&ctx, concurrency.max(1), regions).await,
        Load::Open {
            rate,
            max_in_flight,
        } => open(&ctx, rate, max_in_flight.max(1), regions).await,
    };
    let elapsed = ctx.start.elapsed();
    ticker.abort();
    tick(&ctx, &bar);
    bar.finish_and_clear();
    (rec, elapsed)
}

fn progress_bar(plan: &Plan) -> ProgressBar {
    if !plan.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len = match plan.stop {
        Stop::Requests(n) => n,
        Stop::Duration(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:30.cyan/blue}] {percent:>3}% {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn tick(ctx: &Ctx, bar: &ProgressBar) {
    if bar.is_hidden() {
        return;
    }
    let done = ctx.live.done.load(Ordering::Relaxed);
    let hits = ctx.live.hits.load(Ordering::Relaxed);
    let failed = ctx.live.failed.load(Ordering::Relaxed);
    let secs = ctx.start.elapsed().as_secs_f64();
    bar.set_position(match ctx.plan.stop {
        Stop::Requests(_) => done,
        Stop::Duration(_) => u64::try_from(ctx.start.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
    let hit = if done > failed {
        100.0 * hits as f64 / (done - failed) as f64
    } else {
        0.0
    };
    bar.set_message(format!(
        "{done} req  {rate:.0} req/s  edge hit {hit:.1}%  failed {failed}"
    ));
}

/// `concurrency` users, user `u` in region `u % regions` with segment
/// `(u / regions) % segments`.
async fn closed(ctx: &Arc<Ctx>, concurrency: usize, regions: usize) -> Recorder {
    let segments = ctx.plan.source.segments().max(1);
    let mut set = JoinSet::new();
    for u in 0..concurrency {
        let ctx = Arc::clone(ctx);
        let user = User {
            region: u % regions,
            segment: (u / regions) % segments,
        };
        set.spawn(async move {
            let mut rng = StdRng::seed_from_u64(mix_seed(ctx.plan.seed, u as u64));
            let mut rec = Recorder::new(regions);
            loop {
                let i = ctx.issued.fetch_add(1, Ordering::Relaxed);
                if !ctx.may_start(i) {
                    break;
                }
                let (region, req) = ctx.request(i, &user, &mut rng);
                let sent = Instant::now();
                let result = ctx.client.send(&ctx.plan.bases[region], &req).await;
                let outcome = Outcome {
                    region,
                    kind: req.kind,
                    key: req.key,
                    result,
                    latency: sent.elapsed(),
                    at: ctx.start.elapsed(),
                };
                ctx.count(&outcome);
                rec.record(outcome);
            }
            rec
        });
    }
    let mut rec = Recorder::new(regions);
    while let Some(r) = set.join_next().await {
        if let Ok(r) = r {
            rec.merge(r);
        }
    }
    rec
}

/// Arrival `i` is scheduled at `i / rate` seconds, for the user of region
/// `i % regions`. Latency counts from the scheduled time, so a slow server is
/// not hidden by late sending (no coordinated omission).
async fn open(ctx: &Arc<Ctx>, rate: f64, max_in_flight: usize, regions: usize) -> Recorder {
    let segments = ctx.plan.source.segments().max(1);
    let interval = Duration::from_secs_f64(1.0 / rate.max(1e-6));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut rng = StdRng::seed_from_u64(mix_seed(ctx.plan.seed, u64::MAX));
    let mut rec = Recorder::new(regions);
    let mut set: JoinSet<Outcome> = JoinSet::new();
    let mut i: u64 = 0;
    loop {
        let scheduled = ctx.start + interval.mul_f64(i as f64);
        let more = match ctx.plan.stop {
            Stop::Requests(n) => i < n,
            Stop::Duration(d) => scheduled < ctx.start + d,
        };
        if !more {
            break;
        }
        tokio::select! {
            biased;
            Some(done) = set.join_next(), if !set.is_empty() => {
                if let Ok(o) = done {
                    ctx.count(&o);
                    rec.record(o);
                }
                continue;
            }
            _ = tokio::time::sleep_until(scheduled.into()) => {}
        }
        if Instant::now().saturating_duration_since(scheduled) > LATE_AFTER {
            rec.late += 1;
        }
        let user = User {
            region: (i % regions as u64) as usize,
            segment: ((i / regions as u64) % segments as u64) as usize,
        };
        let (region, req) = ctx.request(i, &user, &mut rng);
        i += 1;
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            rec.dropped += 1;
            continue;
        };
        let ctx = Arc::clone(ctx);
        set.spawn(async move {
            let result = ctx.client.send(&ctx.plan.bases[region], &req).await;
            drop(permit);
            Outcome {
                region,
                kind: req.kind,
                key: req.key,
                result,
                latency: scheduled.elapsed(),
                at: ctx.start.elapsed(),
            }
        });
    }
    while let Some(done) = set.join_next().await {
        if let Ok(o) = done {
            ctx.count(&o);
            rec.record(o);
        }
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_per_stream() {
        assert_ne!(mix_seed(1, 0), mix_seed(1, 1));
        assert_ne!(mix_seed(1, 0), mix_seed(2, 0));
        assert_eq!(mix_seed(5, 3), mix_seed(5, 3));
    }
}
