//! Remote verification keys: a provider's JWKS (`[jwt] jwks_url`, or `oidc_issuer` discovery)
//! beside the local key sources. The decision stays pure: it reads the current set from an
//! `ArcSwap` ([`remote::RemoteKeys::current`]) that a background task replaces. When a token
//! names a `kid` no key has, the decision answers `UnknownKid`; [`evaluate`] then awaits one
//! shared refetch (at most one per `jwks_cooldown`) and runs the pure evaluation once more.

pub mod fetch;
pub mod remote;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::auth::{AuthError, DecodeError, Revocation};
use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::pipeline::{self, Evaluation, RequestHead};

pub use remote::{RemoteKeys, RemoteSettings, Source};

/// [`pipeline::evaluate_with`] (with the `[revocation]` store's answer), with one refetch of
/// the remote keys and one more evaluation when the token's `kid` is unknown. Without remote
/// keys, exactly `pipeline::evaluate_with`. The refetch, rare, is boxed: the future of every
/// request stays the size of the evaluation, not of a key fetch.
pub async fn evaluate<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
    revocation: &Revocation,
) -> Evaluation<'a> {
    match evaluate_now(snapshot, head, now_ms, revocation) {
        Ok(evaluation) => evaluation,
        Err(evaluation) => evaluate_after_refetch(snapshot, head, revocation, evaluation).await,
    }
}

/// The evaluation, or (`Err`) one that refused an unknown `kid` with remote keys configured:
/// it waits for [`evaluate_after_refetch`].
pub fn evaluate_now<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
    revocation: &Revocation,
) -> Result<Evaluation<'a>, Evaluation<'a>> {
    let evaluation = pipeline::evaluate_with(snapshot, head, now_ms, revocation);
    let remotes = snapshot.auth.decoder().remotes();
    if remotes.is_empty() {
        return Ok(evaluation);
    }
    for remote in &remotes {
        remote.ensure_started();
    }
    let unknown_kid = matches!(
        &evaluation,
        Evaluation::Refuse {
            error: GatewayError::Auth(AuthError::Decode(DecodeError::UnknownKid)),
            ..
        }
    );
    match unknown_kid {
        true => Err(evaluation),
        false => Ok(evaluation),
    }
}

/// An unknown `kid`: every remote set refetches (at most once per its cooldown), and the
/// request is evaluated again if any of them fetched. Boxed: the key fetch's future is large
/// and rare, and the caller's future is not to carry it.
pub async fn evaluate_after_refetch<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    revocation: &Revocation,
    evaluation: Evaluation<'a>,
) -> Evaluation<'a> {
    Box::pin(refetch_and_evaluate(snapshot, head, revocation, evaluation)).await
}

async fn refetch_and_evaluate<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    revocation: &Revocation,
    evaluation: Evaluation<'a>,
) -> Evaluation<'a> {
    // The pure decision does not say which provider's set missed; each set refetches at most
    // once per its cooldown, so asking all of them stays bounded.
    let mut fetched = false;
    for remote in &snapshot.auth.decoder().remotes() {
        fetched |= remote.refetch_for_kid().await;
    }
    match fetched {
        true => pipeline::evaluate_with(snapshot, head, crate::clock::now_ms(), revocation),
        false => evaluation,
    }
}

/// `jwks_wait`: waits for the first remote key set before serving; `Err` (the message) when
/// it did not come in time. Without remote keys or `jwks_wait`, returns at once.
pub async fn wait_before_serving(snapshot: &Snapshot) -> Result<(), String> {
    for remote in snapshot.auth.decoder().remotes() {
        wait_for(remote).await?;
    }
    Ok(())
}

async fn wait_for(remote: &RemoteKeys) -> Result<(), String> {
    let Some(within) = remote.wait() else {
        return Ok(());
    };
    tracing::info!(jwks.source = %remote.source(), "waiting for the first key set before serving (jwks_wait)");
    match remote.wait_ready(within).await {
        true => Ok(()),
        false => Err(format!(
            "no key set from {} within jwks_wait ({within:?}); not serving",
            remote.source()
        )),
    }
}

/// Fetches every remote key set of `snapshot` once, on a runtime of its own (for the commands
/// that run without one): a line per source, and whether every fetch succeeded. `check
/// --online` prints it; `explain` uses it so that remote keys can verify its token.
pub fn fetch_all_now(snapshot: &Snapshot) -> (String, bool) {
    let remotes = snapshot.auth.decoder().remotes();
    if remotes.is_empty() {
        return ("no remote key set is configured\n".to_owned(), true);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return (format!("cannot start a runtime: {e}\n"), false),
    };
    let mut text = String::new();
    let mut ok = true;
    for remote in remotes {
        match runtime.block_on(remote.fetch_now()) {
            Ok(kids) => {
                let _ = writeln!(
                    text,
                    "{}: {} key(s): {}",
                    remote.source(),
                    kids.len(),
                    kids.join(", ")
                );
            }
            Err(why) => {
                ok = false;
                let _ = writeln!(text, "{}: fetch failed: {why}", remote.source());
            }
        }
    }
    (text, ok)
}

/// Whether the remote key set (if any) has been fetched, for `/readyz`.
pub fn ready(snapshot: &Snapshot) -> bool {
    snapshot
        .auth
        .decoder()
        .remotes()
        .iter()
        .all(|r| r.is_ready())
}

/// The key-fetch metrics of `snapshot`'s remote sets (labelled by source), written into
/// OpenMetrics `text` before its `# EOF` line.
pub fn with_metrics(snapshot: &Snapshot, text: String) -> String {
    let remotes = snapshot.auth.decoder().remotes();
    if remotes.is_empty() {
        return text;
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    let families = [
        (
            "freshgate_jwks_fetches",
            "counter",
            "Key set fetches from the provider, by outcome.",
        ),
        (
            "freshgate_jwks_kid_refetches",
            "counter",
            "Refetches triggered by an unknown kid.",
        ),
        (
            "freshgate_jwks_cooldown_hits",
            "counter",
            "Unknown kids answered without a refetch (within jwks_cooldown).",
        ),
        (
            "freshgate_jwks_age_seconds",
            "gauge",
            "Seconds since the key set in force was fetched.",
        ),
    ];
    for (name, kind, help) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for remote in &remotes {
            let stats = &remote.stats;
            // Sources are URLs from the config: no quote or backslash survives URL parsing.
            let source = remote.source();
            let _ = match name {
                "freshgate_jwks_fetches" => writeln!(
                    out,
                    "{name}_total{{source=\"{source}\",outcome=\"ok\"}} {}\n{name}_total{{source=\"{source}\",outcome=\"failed\"}} {}",
                    load(&stats.fetch_ok),
                    load(&stats.fetch_failed)
                ),
                "freshgate_jwks_kid_refetches" => writeln!(out, "{name}_total{{source=\"{source}\"}} {}", load(&stats.kid_refetches)),
                "freshgate_jwks_cooldown_hits" => writeln!(out, "{name}_total{{source=\"{source}\"}} {}", load(&stats.cooldown_hits)),
                _ => match remote.current().fetched {
                    Some(at) => writeln!(out, "{name}{{source=\"{source}\"}} {:.3}", at.elapsed().as_secs_f64()),
                    None => Ok(()),
                },
            };
        }
    }
    match text.rfind("# EOF") {
        Some(i) => format!("{}{out}{}", &text[..i], &text[i..]),
        None => text + &out,
    }
}
