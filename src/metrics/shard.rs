//! Worker-local metric writes: a counter or histogram series holds one cache line (or a few)
//! per worker thread, and each thread writes only its own, so the request path takes no lock
//! and no atomic that another core writes. The scrape adds the shards up and encodes the sum
//! exactly as prometheus-client's [`Counter`](prometheus_client::metrics::counter::Counter) and
//! [`Histogram`](prometheus_client::metrics::histogram::Histogram) do: same type, same value
//! types, same buckets.
//!
//! A thread's shard is the worker index it [`enter_worker`]s with; every other thread (the main
//! thread: admin, forward-auth, reloads) writes the last shard. Writes are relaxed atomic
//! read-modify-writes, so a shard that two threads share (several gateways in one test process,
//! a library user's own accept loops) still counts exactly; it is only slower.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::exponential_buckets;
use prometheus_client::metrics::{MetricType, TypedMetric};

thread_local! {
    static WORKER: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// Marks the current thread as worker `index`: its metric writes go to shard `index` of every
/// series (the runtime calls this first thing on each worker thread).
pub fn enter_worker(index: usize) {
    WORKER.with(|w| w.set(index));
}

/// The shard this thread writes, of `shards`.
fn mine(shards: usize) -> usize {
    WORKER.with(Cell::get).min(shards - 1)
}

/// A value alone on its cache line (two lines: adjacent-line prefetch pairs them on x86).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Line<T>(T);

/// A counter with one cache line per shard; [`Clone`] shares the series.
#[derive(Clone, Debug)]
pub struct ShardedCounter(Arc<[Line<AtomicU64>]>);

impl ShardedCounter {
    pub fn new(shards: usize) -> Self {
        ShardedCounter((0..shards.max(1)).map(|_| Line::default()).collect())
    }

    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, v: u64) {
        self.0[mine(self.0.len())].0.fetch_add(v, Relaxed);
    }

    /// The sum over the shards.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|l| l.0.load(Relaxed)).sum()
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::fmt::Result {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The most buckets a [`ShardedHistogram`] has, `+Inf` included.
const MAX_BUCKETS: usize = 21;

/// One thread's part of a histogram: the sum's `f64` bits and each bucket's count (the count is
/// the buckets' total, so `_count` always equals the `+Inf` bucket).
#[derive(Debug, Default)]
struct HistogramShard {
    sum: AtomicU64,
    buckets: [AtomicU64; MAX_BUCKETS],
}

#[derive(Debug)]
struct HistogramInner {
    /// The buckets' upper bounds, `+Inf` last.
    bounds: Box<[f64]>,
    shards: Box<[Line<HistogramShard>]>,
}

/// A histogram with fixed buckets and one shard per thread; [`Clone`] shares the series.
#[derive(Clone, Debug)]
pub struct ShardedHistogram(Arc<HistogramInner>);

impl ShardedHistogram {
    /// Buckets as `Histogram::new`'s: the finite bounds given, then `+Inf`.
    pub fn new(buckets: impl IntoIterator<Item = f64>, shards: usize) -> Self {
        let bounds: Box<[f64]> = buckets
            .into_iter()
            .filter(|b| b.is_finite())
            .chain(std::iter::once(f64::INFINITY))
            .collect();
        assert!(bounds.len() <= MAX_BUCKETS, "raise MAX_BUCKETS");
        let shards = (0..shards.max(1)).map(|_| Line::default()).collect();
        ShardedHistogram(Arc::new(HistogramInner { bounds, shards }))
    }

    /// Counts `v` in the first bucket whose bound is at least `v` (`NaN`: the last).
    pub fn observe(&self, v: f64) {
        let inner = &*self.0;
        let shard = &inner.shards[mine(inner.shards.len())].0;
        let last = inner.bounds.len() - 1;
        let bucket = inner.bounds.iter().position(|b| *b >= v).unwrap_or(last);
        shard.buckets[bucket].fetch_add(1, Relaxed);
        // A shard has one writer (see the module), so the exchange succeeds the first time.
        let _ = shard.sum.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
    }

    /// The sum, the count and each bucket's own count, over the shards.
    fn merged(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let inner = &*self.0;
        let mut buckets: Vec<(f64, u64)> = inner.bounds.iter().map(|b| (*b, 0)).collect();
        let mut sum = 0.0;
        for Line(shard) in &inner.shards {
            sum += f64::from_bits(shard.sum.load(Relaxed));
            for (total, count) in buckets.iter_mut().zip(&shard.buckets) {
                total.1 += count.load(Relaxed);
            }
        }
        let count = buckets.iter().map(|b| b.1).sum();
        (sum, count, buckets)
    }
}

impl TypedMetric for ShardedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for ShardedHistogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::fmt::Result {
        let (sum, count, buckets) = self.merged();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// How a family makes a new counter series: with this many shards.
#[derive(Clone, Copy, Debug)]
pub struct CounterShape(pub usize);

impl MetricConstructor<ShardedCounter> for CounterShape {
    fn new_metric(&self) -> ShardedCounter {
        ShardedCounter::new(self.0)
    }
}

/// How a family makes a new histogram series: `exponential_buckets(start, factor, length)`
/// and `shards` shards.
#[derive(Clone, Copy, Debug)]
pub struct HistogramShape {
    pub start: f64,
    pub factor: f64,
    pub length: u16,
    pub shards: usize,
}

impl HistogramShape {
    pub fn histogram(&self) -> ShardedHistogram {
        let buckets = exponential_buckets(self.start, self.factor, self.length);
        ShardedHistogram::new(buckets, self.shards)
    }
}

impl MetricConstructor<ShardedHistogram> for HistogramShape {
    fn new_metric(&self) -> ShardedHistogram {
        self.histogram()
    }
}

/// A family of sharded counters.
pub type Counters<L> = Family<L, ShardedCounter, CounterShape>;
/// A family of sharded histograms.
pub type Histograms<L> = Family<L, ShardedHistogram, HistogramShape>;

#[cfg(test)]
mod tests;
