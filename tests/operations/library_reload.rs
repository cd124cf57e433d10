//! Reloading the config file in the library: ten reloads under a steady stream of requests on
//! a kept-alive and on new connections, and invalid files refused with their position while the
//! old routes keep serving.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use freshgate::auth::TokenType;
use serde_json::Value;

use crate::support::*;
use crate::{switch_routes, FRESH_REQUIRED};

/// `/switch` under `policy`, a public prefix, and `added` extra public routes `/added-<i>`.
fn switch_config(upstream: SocketAddr, policy: &str, added: usize) -> String {
    let mut text = switch_routes(upstream, policy);
    text.push_str("\n[[route]]\nprefix = \"/public\"\npolicy = \"public\"\n");
    for i in 0..added {
        text.push_str(&format!(
            "\n[[route]]\npath = \"/added-{i}\"\npolicy = \"public\"\n"
        ));
    }
    text
}

/// Which policy answered a non-fresh access token on `/switch`.
#[derive(Debug, PartialEq)]
enum Answer {
    Public,
    Fresh,
}

/// A non-fresh token on `/switch`: `public` forwards it (200, the echo of `/switch`), `fresh`
/// answers 401 `Fresh token required`. Anything else is a failure.
fn classify(reply: Result<Reply, String>) -> Result<Answer, String> {
    let reply = reply?;
    match reply.status.as_u16() {
        200 if serde_json::from_slice::<Value>(&reply.body)
            .is_ok_and(|v| v["path"] == "/switch") =>
        {
            Ok(Answer::Public)
        }
        401 if reply.body == FRESH_REQUIRED => Ok(Answer::Fresh),
        status => Err(format!("unexpected answer {status}: {}", reply.text())),
    }
}

/// What the client tasks saw while the config was being reloaded.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    public: AtomicUsize,
    fresh: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, client: &str, answer: Result<Answer, String>) {
        match answer {
            Ok(Answer::Public) => self.public.fetch_add(1, Ordering::SeqCst),
            Ok(Answer::Fresh) => self.fresh.fetch_add(1, Ordering::SeqCst),
            Err(e) => {
                self.failures
                    .lock()
                    .expect("tally lock")
                    .push(format!("{client}: {e}"));
                0
            }
        };
        self.answered.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_reloads_under_a_steady_stream_of_requests_fail_none_and_the_last_policy_wins() {
    let upstream = Upstream::start().await;
    let config = ConfigFile::new(&switch_config(upstream.addr, "fresh", 0));
    let gw = TestGateway::from_file(&config).await;
    let stale = token("alice", TokenType::Access, false);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));

    // One client keeps one connection alive for the whole test; the other opens a new
    // connection for every request.
    let keep_alive = tokio::spawn({
        let (tally, stop, stale, addr) = (tally.clone(), stop.clone(), stale.clone(), gw.addr);
        async move {
            let (name, value) = bearer(&stale);
            let mut connection = Connection::open(addr).await.expect("keep-alive connection");
            while !stop.load(Ordering::SeqCst) {
                let reply = connection.get("/switch", &[(name, &value)]).await;
                tally.record("keep-alive", classify(reply));
            }
        }
    });
    let new_connections = tokio::spawn({
        let (tally, stop, stale, addr) = (tally.clone(), stop.clone(), stale.clone(), gw.addr);
        async move {
            let (name, value) = bearer(&stale);
            while !stop.load(Ordering::SeqCst) {
                let reply = try_get(addr, "/switch", &[(name, &value)]).await;
                tally.record("new connection", classify(reply));
            }
        }
    });

    let added = send(gw.addr, "GET", "/added-9", &[]).await;
    assert_eq!(
        added.status, 404,
        "/added-9 is not routed before the reloads"
    );
    for i in 0..10 {
        let policy = if i % 2 == 0 { "public" } else { "fresh" };
        config.write(&switch_config(upstream.addr, policy, i + 1));
        gw.reloader()
            .reload("test")
            .await
            .unwrap_or_else(|e| panic!("reload {i} ({policy}) was refused:\n{e}"));
        // Let the stream run on the new config for a while: at least 50 more answers, so
        // requests overlap every swap and both policies are seen.
        let seen = tally.answered.load(Ordering::SeqCst);
        eventually(
            Duration::from_secs(5),
            format!("50 answers after reload {i}"),
            async || tally.answered.load(Ordering::SeqCst) >= seen + 50,
        )
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    keep_alive.await.expect("keep-alive client task");
    new_connections.await.expect("new-connection client task");

    let failures = tally.failures.lock().expect("tally lock").clone();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the reloads, e.g. {:?}",
        failures.len(),
        tally.answered.load(Ordering::SeqCst),
        &failures[..failures.len().min(5)]
    );
    assert!(
        tally.public.load(Ordering::SeqCst) > 0 && tally.fresh.load(Ordering::SeqCst) > 0,
        "both policies answered during the test (public {}, fresh {})",
        tally.public.load(Ordering::SeqCst),
        tally.fresh.load(Ordering::SeqCst)
    );

    // The last reload made /switch `fresh` and added /added-9.
    let (name, value) = bearer(&stale);
    let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
    assert_eq!(
        (reply.status.as_u16(), reply.text()),
        (401, FRESH_REQUIRED.to_string()),
        "the last reload's policy (fresh) is in effect"
    );
    let (name, value) = bearer(&token("alice", TokenType::Access, true));
    let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
    assert_eq!(reply.status, 200, "a fresh token passes: {}", reply.text());
    assert_eq!(
        reply.upstream_saw("x-auth-fresh"),
        ["true"],
        "forwarded with the fresh route's identity headers"
    );
    let added = send(gw.addr, "GET", "/added-9", &[]).await;
    assert_eq!(
        added.status, 200,
        "the route added by the last reload is served"
    );
    assert_eq!(
        counter(
            &gw.metrics(),
            "freshgate_reloads_total",
            &[("outcome", "success")]
        ),
        10.0,
        "ten successful reloads are counted"
    );
}

#[tokio::test]
async fn an_invalid_reload_is_refused_with_its_position_and_the_old_routes_keep_serving() {
    let upstream = Upstream::start().await;
    let valid = switch_config(upstream.addr, "fresh", 1);
    let config = ConfigFile::new(&valid);
    let gw = TestGateway::from_file(&config).await;

    let line_of = |needle: &str| {
        let at = valid
            .find(needle)
            .unwrap_or_else(|| panic!("test bug: {needle:?} is not in the config"));
        valid[..at].matches('\n').count() + 1
    };
    let policy_line = line_of("policy = \"fresh\"");
    // Cut in the middle of a value: a half-written file ends inside a string.
    let cut_mid_value = &valid[..valid.find("policy = \"fresh\"").unwrap() + "policy = \"fr".len()];
    // Cut between two keys of a table: valid TOML, but the route has no policy yet.
    let cut_mid_table = &valid[..valid.find("policy = \"fresh\"").unwrap()];
    let bad_key = valid.replacen("policy = \"fresh\"", "polcy = \"fresh\"", 1);
    let cases: [(&str, &str, String, &str); 4] = [
        ("an empty file", "", config.at_line(1), "upstreams"),
        (
            "a file cut in the middle of a value",
            cut_mid_value,
            config.at_line(policy_line),
            "route[1].policy",
        ),
        (
            "a file cut in the middle of a [[route]] table",
            cut_mid_table,
            config.at_line(line_of("[[route]]")),
            "route[1].policy",
        ),
        (
            "a misspelt key",
            &bad_key,
            config.at_line(policy_line),
            "route[1].polcy",
        ),
    ];

    let (name, value) = bearer(&token("alice", TokenType::Access, false));
    for (n, (what, text_written, position, key)) in cases.iter().enumerate() {
        config.write(text_written);
        let error = match gw.reloader().reload("test").await {
            Ok(()) => panic!("{what} was accepted as a config"),
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(position.as_str()),
            "{what}: the error gives the position {position:?}: {error}"
        );
        assert!(
            error.contains(key),
            "{what}: the error names the key {key:?}: {error}"
        );

        let reply = send(gw.addr, "GET", "/switch", &[(name, &value)]).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text()),
            (401, FRESH_REQUIRED.to_string()),
            "after {what}, /switch keeps the old policy (fresh)"
        );
        let reply = send(gw.addr, "GET", "/added-0", &[]).await;
        assert_eq!(
            reply.status, 200,
            "after {what}, the old route /added-0 is still served"
        );
        let metrics = gw.metrics();
        assert_eq!(
            counter(
                &metrics,
                "freshgate_reloads_total",
                &[("outcome", "failure")]
            ),
            (n + 1) as f64,
            "after {what}, every refused reload is counted"
        );
        assert_eq!(
            counter(
                &metrics,
                "freshgate_reloads_total",
                &[("outcome", "success")]
            ),
            0.0,
            "after {what}, no reload succeeded"
        );
    }

    // Once the file is whole again, a reload applies it.
    config.write(&switch_config(upstream.addr, "public", 1));
    gw.reloader()
        .reload("test")
        .await
        .unwrap_or_else(|e| panic!("the repaired file was refused:\n{e}"));
    let reply = send(gw.addr, "GET", "/switch", &[]).await;
    assert_eq!(
        reply.status, 200,
        "the repaired file's policy (public) is in effect"
    );
}
