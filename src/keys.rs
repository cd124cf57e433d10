//! Remote verification keys: a provider's JWKS (`[jwt] jwks_url`, or `oidc_issuer` discovery)
//! beside the local key sources. The decision stays pure: it reads the current set from an
//! `ArcSwap` ([`remote::RemoteKeys::current`]) that a background task replaces. When a token
//! names a `kid` no key has, the decision answers `UnknownKid`; [`evaluate`] then awaits one
//! shared refetch (at most one per `jwks_cooldown`) and runs the pure evaluation once more.

pub mod fetch;
pub mod remote;

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::auth::{AuthError, DecodeError};
use crate::config::Snapshot;
use crate::error::GatewayError;
use crate::pipeline::{self, Evaluation, RequestHead};

pub use remote::{RemoteKeys, RemoteSettings, Source};

/// [`pipeline::evaluate`], with one refetch of the remote keys and one more evaluation when the
/// token's `kid` is unknown. Without remote keys, exactly `pipeline::evaluate`.
pub async fn evaluate<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
) -> Evaluation<'a> {
    let evaluation = pipeline::evaluate(snapshot, head, now_ms);
    let Some(remote) = snapshot.auth.decoder().remote.as_ref() else {
        return evaluation;
    };
    remote.ensure_started();
    let unknown_kid = matches!(
        &evaluation,
        Evaluation::Refuse {
            error: GatewayError::Auth(AuthError::Decode(DecodeError::UnknownKid)),
            ..
        }
    );
    if unknown_kid && remote.refetch_for_kid().await {
        return pipeline::evaluate(snapshot, head, crate::clock::now_ms());
    }
    evaluation
}

/// `jwks_wait`: waits for the first remote key set before serving; `Err` (the message) when
/// it did not come in time. Without remote keys or `jwks_wait`, returns at once.
pub async fn wait_before_serving(snapshot: &Snapshot) -> Result<(), String> {
    let Some(remote) = snapshot.auth.decoder().remote.as_ref() else {
        return Ok(());
    };
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

/// Whether the remote key set (if any) has been fetched, for `/readyz`.
pub fn ready(snapshot: &Snapshot) -> bool {
    snapshot
        .auth
        .decoder()
        .remote
        .as_ref()
        .is_none_or(|r| r.is_ready())
}

/// The key-fetch metrics of `snapshot`'s remote set, written into OpenMetrics `text` before
/// its `# EOF` line.
pub fn with_metrics(snapshot: &Snapshot, text: String) -> String {
    let Some(remote) = snapshot.auth.decoder().remote.as_ref() else {
        return text;
    };
    let stats = &remote.stats;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    let _ = write!(
        out,
        "# TYPE freshgate_jwks_fetches counter\n# HELP freshgate_jwks_fetches Key set fetches from the provider, by outcome.\n\
         freshgate_jwks_fetches_total{{outcome=\"ok\"}} {}\nfreshgate_jwks_fetches_total{{outcome=\"failed\"}} {}\n\
         # TYPE freshgate_jwks_kid_refetches counter\n# HELP freshgate_jwks_kid_refetches Refetches triggered by an unknown kid.\n\
         freshgate_jwks_kid_refetches_total {}\n\
         # TYPE freshgate_jwks_cooldown_hits counter\n# HELP freshgate_jwks_cooldown_hits Unknown kids answered without a refetch (within jwks_cooldown).\n\
         freshgate_jwks_cooldown_hits_total {}\n",
        load(&stats.fetch_ok),
        load(&stats.fetch_failed),
        load(&stats.kid_refetches),
        load(&stats.cooldown_hits),
    );
    if let Some(at) = remote.current().fetched {
        let _ = write!(
            out,
            "# TYPE freshgate_jwks_age_seconds gauge\n# HELP freshgate_jwks_age_seconds Seconds since the key set in force was fetched.\n\
             freshgate_jwks_age_seconds {:.3}\n",
            at.elapsed().as_secs_f64()
        );
    }
    match text.rfind("# EOF") {
        Some(i) => format!("{}{out}{}", &text[..i], &text[i..]),
        None => text + &out,
    }
}
