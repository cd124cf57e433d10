//! What the `[revocation]` store must be asked before [`super::evaluate_with`] decides: the
//! same head checks, route lookup and token search as the evaluation, stopping at the token's
//! verified claims. Pure, like the rest of the pipeline; the server does the I/O in between.

use std::sync::Arc;

use crate::auth::revocation::Keys;
use crate::auth::{self, AuthError, Claims, TokenAt};
use crate::config::Snapshot;
use crate::routes::Route;
use crate::websocket::{self, Handshake};

use super::{check_request, RequestHead};

/// A lookup the decision needs: the route (for its `revocation_unavailable`), the verified
/// claims (for the cache's lifetime), the keys, or the decision's answer when the token's
/// claims cannot make them.
pub struct Lookup<'a> {
    pub route: &'a Route,
    pub claims: Arc<Claims>,
    pub token: Vec<u8>,
    pub keys: Result<Keys, AuthError>,
}

// Tokens and keys (which may contain tokens) never reach logs.
impl std::fmt::Debug for Lookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookup")
            .field("route", &self.route.name)
            .finish_non_exhaustive()
    }
}

/// The lookup a request needs, or `None` when the evaluation will not ask (no store, no
/// token, a token refused before the revocation step, a type outside `token_checks`).
pub fn revocation_lookup<'a>(
    snapshot: &'a Snapshot,
    head: &RequestHead<'_>,
    now_ms: i64,
) -> Option<Lookup<'a>> {
    let rules = snapshot.auth.revocation_rules()?;
    let target = check_request(head, &snapshot.server).ok()?;
    let aliases = snapshot.server.path_aliases;
    let route = snapshot
        .routes
        .lookup_aliased(head.method, target.path(), aliases)
        .ok()??;
    let handshake = match route.websocket {
        Some(_) => websocket::handshake(head.method, head.version, head.headers),
        None => Handshake::None,
    };
    let at = match (route.websocket, handshake) {
        (_, Handshake::Invalid(_)) => return None,
        (Some(mode), Handshake::Valid) => TokenAt::WebSocket(mode, head.uri.query()),
        _ => TokenAt::Http(head.method, head.uri.query()),
    };
    let (claims, token) =
        auth::revocation_claims(&snapshot.auth, route.rule, at, head.headers, now_ms)?;
    let keys = rules.keys(&claims, &token);
    Some(Lookup {
        route,
        claims,
        token,
        keys,
    })
}
