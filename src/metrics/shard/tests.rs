//! The sharded series against prometheus-client's own: the same text for the same
//! observations, and every worker's writes in the sum.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::*;

const SHAPE: HistogramShape = HistogramShape {
    start: 0.00005,
    factor: 2.0,
    length: 20,
    shards: 3,
};

fn text(registry: &Registry) -> String {
    let mut out = String::new();
    encode(&mut out, registry).unwrap();
    out
}

#[test]
fn sharded_series_encode_exactly_as_prometheus_clients_own() {
    let values = [0.0, 0.00004, 0.00005, 0.0007, 0.3, 12.5, 40.0, f64::NAN];
    let plain = Family::<Vec<(String, String)>, Counter>::default();
    let sharded = Counters::<Vec<(String, String)>>::new_with_constructor(CounterShape(3));
    let plain_histogram = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
    let sharded_histogram = SHAPE.histogram();
    for (i, v) in values.iter().enumerate() {
        let labels = vec![("route".to_string(), format!("r{}", i % 3))];
        plain.get_or_create(&labels).inc_by(i as u64);
        sharded.get_or_create(&labels).inc_by(i as u64);
        plain_histogram.observe(*v);
        sharded_histogram.observe(*v);
    }
    // NaN's sum is NaN either way; a finite sum is compared too.
    let finite_plain = Histogram::new(exponential_buckets(0.00005, 2.0, 20));
    let finite_sharded = SHAPE.histogram();
    for v in &values[..7] {
        finite_plain.observe(*v);
        finite_sharded.observe(*v);
    }
    let mut registries = [Registry::with_prefix("p"), Registry::with_prefix("p")];
    registries[0].register("requests", "help", plain);
    registries[0].register("latency", "help", plain_histogram);
    registries[0].register("finite", "help", finite_plain);
    registries[1].register("requests", "help", sharded);
    registries[1].register("latency", "help", sharded_histogram);
    registries[1].register("finite", "help", finite_sharded);
    let [ours, theirs] = [text(&registries[1]), text(&registries[0])];
    // Family order is a HashMap's: compare the lines as sets, and the layout per family.
    let sorted = |t: &str| {
        let mut lines: Vec<&str> = t.lines().collect();
        lines.sort_unstable();
        lines.join("\n")
    };
    assert_eq!(sorted(&ours), sorted(&theirs), "the same samples\n{ours}");
    assert!(ours.contains("p_latency_sum NaN"), "NaN is summed: {ours}");
}

#[test]
fn each_workers_writes_land_in_its_own_shard_and_the_scrape_adds_them_up() {
    let counter = ShardedCounter::new(3);
    let histogram = SHAPE.histogram();
    std::thread::scope(|s| {
        for worker in 0..4 {
            let (counter, histogram) = (&counter, &histogram);
            s.spawn(move || {
                // Worker 3 is past the two workers' shards: it shares the last one.
                enter_worker(worker);
                for _ in 0..1000 {
                    counter.inc();
                    histogram.observe(0.001);
                }
            });
        }
    });
    counter.inc();
    let shards: Vec<u64> = counter.0.iter().map(|l| l.0.load(Relaxed)).collect();
    assert_eq!(
        shards,
        [1000, 1000, 2001],
        "one shard per worker, the rest last"
    );
    assert_eq!(counter.get(), 4001, "the scrape adds them up");
    let (sum, count, buckets) = histogram.merged();
    assert_eq!(count, 4000, "every observation counted once");
    assert_eq!(
        buckets.iter().map(|b| b.1).sum::<u64>(),
        4000,
        "and bucketed once"
    );
    assert!((sum - 4.0).abs() < 1e-9, "the sums add up: {sum}");
}

#[test]
fn the_histograms_in_use_fit_the_shard() {
    for length in [20, 15, 16] {
        let shape = HistogramShape { length, ..SHAPE };
        assert_eq!(shape.histogram().0.bounds.len(), usize::from(length) + 1);
    }
}
