//! Metrics with several workers: each worker thread counts into its own shard and `/metrics`
//! adds the shards up, so every request is counted once whichever worker served it, and a
//! config reload keeps every series' value.

use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::future::join_all;

use crate::support::*;
use crate::{binary_config, switch_routes};

/// `connections` keep-alive connections at once, `each` public `/switch` requests on each.
async fn traffic(addr: SocketAddr, connections: usize, each: usize) {
    let client = async || {
        let mut connection = Connection::open(addr).await.expect("connect");
        for _ in 0..each {
            let reply = connection.get("/switch", &[]).await.expect("a reply");
            assert_eq!(reply.status, 200, "/switch: {}", reply.text());
        }
    };
    join_all((0..connections).map(|_| client())).await;
}

/// Asserts that `metrics` count `n` forwarded `/switch` requests, timed once each at the
/// gateway and upstream, with `_count` equal to the `+Inf` bucket.
fn assert_counted(metrics: &str, n: f64) {
    let labels = [
        ("route", "* /switch"),
        ("policy", "public"),
        ("decision", "forwarded"),
        ("status", "200"),
    ];
    let requests = counter(metrics, "freshgate_requests_total", &labels);
    assert_eq!(requests, n, "every request counted once\n{metrics}");
    for (histogram, labels) in [
        ("freshgate_request_duration_seconds", &[][..]),
        (
            "freshgate_upstream_duration_seconds",
            &[("upstream", "app")],
        ),
    ] {
        let count = metric(metrics, &format!("{histogram}_count"), labels);
        assert_eq!(
            count,
            Some(n),
            "{histogram}: one observation each\n{metrics}"
        );
        let mut inf = labels.to_vec();
        inf.push(("le", "+Inf"));
        let bucket = metric(metrics, &format!("{histogram}_bucket"), &inf);
        assert_eq!(bucket, Some(n), "{histogram}: the +Inf bucket is the count");
        let sum = metric(metrics, &format!("{histogram}_sum"), labels).unwrap_or(0.0);
        assert!(
            sum > 0.0 && sum < n,
            "{histogram}: the sum adds the shards: {sum}"
        );
    }
}

#[tokio::test]
async fn two_workers_in_the_binary_count_every_request_once_across_a_reload() {
    let upstream = Upstream::start().await;
    let text = binary_config(upstream.addr, "public", "workers = 2");
    let gw = Process::start(&text).await;
    traffic(gw.listen, 8, 5).await;
    let scrape = async || send(gw.admin, "GET", "/metrics", &[]).await.text();
    assert_counted(&scrape().await, 40.0);

    gw.config.write(&format!(
        "{text}\n[[route]]\npath = \"/added\"\npolicy = \"public\"\n"
    ));
    gw.signal("HUP");
    let reloaded = async || {
        let metrics = scrape().await;
        counter(
            &metrics,
            "freshgate_reloads_total",
            &[("outcome", "success")],
        ) >= 1.0
    };
    eventually(std::time::Duration::from_secs(10), "the reload", reloaded).await;
    traffic(gw.listen, 8, 5).await;
    assert_counted(&scrape().await, 80.0);
}

/// Worker `index`'s thread: its own current-thread runtime serving `listener` for `gateway`
/// until `stop` fires, as `freshgate serve` runs its workers.
fn worker(
    index: usize,
    listener: std::net::TcpListener,
    gateway: Arc<freshgate::Gateway>,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        freshgate::metrics::enter_worker(index);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            freshgate::serve(listener, gateway, async move {
                let _ = stop.await;
            })
            .await;
        });
    })
}

#[tokio::test]
async fn requests_spread_over_two_workers_are_each_counted_once_also_after_a_reload() {
    let upstream = Upstream::start().await;
    let text = format!(
        "[server]\nworkers = 2\n\n{}",
        switch_routes(upstream.addr, "public")
    );
    let parse = |text: &str| freshgate::config::parse(text, "test.toml", ".".as_ref()).unwrap();
    let gateway = freshgate::Gateway::new(parse(&text));
    // One listener per worker, so each worker surely serves its share.
    let mut addrs = Vec::new();
    let mut workers = Vec::new();
    for index in 0..2 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        addrs.push(listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        workers.push((stop, worker(index, listener, gateway.clone(), stopped)));
    }
    let both = async |connections, each| {
        join_all(addrs.iter().map(|a| traffic(*a, connections, each))).await;
    };
    both(3, 4).await;
    assert_counted(&gateway.metrics().encode(), 24.0);

    gateway.replace(parse(&format!(
        "{text}\n[[route]]\npath = \"/added\"\npolicy = \"public\"\n"
    )));
    both(2, 3).await;
    assert_counted(&gateway.metrics().encode(), 36.0);
    for (stop, thread) in workers {
        let _ = stop.send(());
        tokio::task::spawn_blocking(move || thread.join().unwrap())
            .await
            .unwrap();
    }
}
