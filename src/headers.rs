//! Header rewriting between client and upstream. [`rewrite_request`] is the one request
//! rewrite, used by the server and by `freshgate explain` alike: hop-by-hop removal, identity
//! headers set from verified claims (and client-sent ones always removed), the `X-Forwarded-*`
//! family, the request id, report mode's marker, claim headers and token removal.

use http::header::Entry;
use http::header::{CONNECTION, COOKIE, FORWARDED, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE};
use http::uri::Authority;
use http::{HeaderMap, HeaderName, HeaderValue};

use serde_json::Value;

use crate::auth::{source, AuthSettings, Identity};
use crate::config::ClaimHeader;

pub const X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");
pub const X_AUTH_SUBJECT_ENCODING: HeaderName = HeaderName::from_static("x-auth-subject-encoding");
pub const X_AUTH_FRESH: HeaderName = HeaderName::from_static("x-auth-fresh");
pub const X_AUTH_TOKEN_TYPE: HeaderName = HeaderName::from_static("x-auth-token-type");
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Report-mode routes: the reason enforcement would have rejected the request.
pub const X_AUTH_REPORTED: HeaderName = HeaderName::from_static("x-auth-reported");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Every header under this prefix is the gateway's to set; clients never get to send one.
pub const IDENTITY_PREFIX: &str = "x-auth-";

/// What the request rewrite needs to know about one forwarded request.
#[derive(Debug)]
pub struct Forward<'a> {
    /// The authority of an absolute-form target, which replaces `Host` (RFC 9112 section
    /// 3.2.2).
    pub authority: Option<&'a Authority>,
    /// The client's address as header text, for `X-Forwarded-For`.
    pub client_ip: &'a HeaderValue,
    /// The peer is a trusted proxy: its `X-Forwarded-Proto`, `X-Forwarded-Host` and
    /// `Forwarded` are kept.
    pub trusted: bool,
    /// A WebSocket handshake to relay: `Upgrade: websocket` and `Connection: upgrade` are kept
    /// for this exchange only (RFC 9110 section 7.8).
    pub upgrade: bool,
    pub request_id: &'a HeaderValue,
    /// Report mode: the reason enforcement would have rejected the request.
    pub reported: Option<&'static str>,
    /// The verified identity; `None` forwards anonymously.
    pub identity: Option<&'a Identity>,
    /// `[forward] claims`.
    pub claims: &'a [ClaimHeader],
    /// The token settings when the route strips the token before forwarding.
    pub strip_token: Option<&'a AuthSettings>,
}

/// Rewrites a request's headers for the upstream, in this order: absolute-form authority to
/// `Host`; hop-by-hop headers; every client-sent `X-Auth-*`; `X-Forwarded-*`; `X-Request-Id`
/// (after the hop-by-hop removal, so `Connection: X-Request-Id` cannot take it away); the
/// report marker; the identity and claim headers; the token, when stripped.
pub fn rewrite_request(headers: &mut HeaderMap, forward: &Forward<'_>) {
    if let Some(authority) = forward.authority {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            headers.insert(HOST, host);
        }
    }
    remove_hop_by_hop(headers);
    if forward.upgrade {
        set_upgrade(headers);
    }
    remove_identity(headers);
    set_forwarded(headers, forward.client_ip, forward.trusted);
    headers.insert(X_REQUEST_ID, forward.request_id.clone());
    if let Some(reason) = forward.reported {
        headers.insert(X_AUTH_REPORTED, HeaderValue::from_static(reason));
    }
    if let Some(identity) = forward.identity {
        set_identity(headers, identity);
        set_claims(headers, identity, forward.claims);
    }
    if let Some(auth) = forward.strip_token {
        strip_token(headers, auth);
    }
}

/// Removes hop-by-hop headers (RFC 9110 section 7.6.1): `Connection`, every header it names,
/// and the ones defined as connection-specific (`Keep-Alive`, `Proxy-Connection`, `TE`,
/// `Trailer`, `Transfer-Encoding`, `Upgrade`). Framing is re-derived by hyper on the next hop.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // The common case has none of them: one pass over the names (standard names compare as
    // tags) is cheaper than hashing seven lookups.
    if !headers.keys().any(|name| HOP_BY_HOP.contains(name)) {
        return;
    }
    // `remove` on a multi-valued header drops all of its values.
    // Token by token, so one unreadable token does not hide the others.
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .filter_map(|name| HeaderName::from_bytes(name.trim_ascii()).ok())
        .collect();
    for name in named {
        // `Connection: Host` must not take away the request's authority.
        if name != HOST {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The connection-specific headers, `Connection` first.
const HOP_BY_HOP: [HeaderName; 7] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// `Upgrade: websocket` and `Connection: upgrade`, after the hop-by-hop removal, for a relayed
/// WebSocket handshake and its `101`.
pub fn set_upgrade(headers: &mut HeaderMap) {
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
}

/// Removes every client-sent `X-Auth-*` header, whatever the route, including spellings with
/// `_` (`X_Auth_Subject`), which WSGI, CGI and Rack servers merge with the `-` spelling.
pub fn remove_identity(headers: &mut HeaderMap) {
    let is_identity = |name: &HeaderName| {
        let name = name.as_str().as_bytes();
        name.len() >= IDENTITY_PREFIX.len()
            && name[..IDENTITY_PREFIX.len()]
                .iter()
                .zip(IDENTITY_PREFIX.as_bytes())
                .all(|(&got, &want)| got == want || (got == b'_' && want == b'-'))
    };
    if !headers.keys().any(is_identity) {
        return;
    }
    let names: Vec<HeaderName> = headers.keys().filter(|n| is_identity(n)).cloned().collect();
    for name in names {
        tracing::debug!(
            header = name.as_str(),
            "removed a client-sent identity header"
        );
        headers.remove(name);
    }
}

/// Sets the identity headers of a verified token. Call after [`remove_identity`].
pub fn set_identity(headers: &mut HeaderMap, identity: &Identity) {
    if let Some(subject) = identity.subject() {
        let (value, encoded) = subject_header_value(&subject);
        headers.insert(X_AUTH_SUBJECT, value);
        if encoded {
            headers.insert(X_AUTH_SUBJECT_ENCODING, HeaderValue::from_static("percent"));
        }
    }
    let fresh = match identity.fresh {
        true => HeaderValue::from_static("true"),
        false => HeaderValue::from_static("false"),
    };
    headers.insert(X_AUTH_FRESH, fresh);
    headers.insert(
        X_AUTH_TOKEN_TYPE,
        HeaderValue::from_static(identity.token_type.as_str()),
    );
}

/// Sets the `[forward] claims` headers: dotted paths reach nested claims, arrays are sent
/// comma-joined, objects as compact JSON, an absent or null claim sends no header. Values that
/// cannot travel verbatim are percent-encoded as for the subject, flagged by
/// `<header>-Encoding: percent`. Call after [`remove_identity`].
pub fn set_claims(headers: &mut HeaderMap, identity: &Identity, claims: &[ClaimHeader]) {
    for claim in claims {
        let mut value = identity.claims.get(&claim.path[0]);
        for segment in &claim.path[1..] {
            value = value.and_then(|v| v.get(segment));
        }
        let text = match value {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            Some(other) => other.to_string(),
        };
        let (value, encoded) = subject_header_value(&text);
        headers.insert(claim.header.clone(), value);
        if encoded {
            headers.insert(
                claim.encoding_header.clone(),
                HeaderValue::from_static("percent"),
            );
        }
    }
}

/// Removes the token before forwarding (`strip_authorization`): the token header, and the
/// token cookies from `Cookie` when cookies are a token location.
pub fn strip_token(headers: &mut HeaderMap, auth: &AuthSettings) {
    headers.remove(auth.header_name());
    if !auth.from_cookies() {
        return;
    }
    let cookies = auth.cookies();
    let names = [cookies.access.as_bytes(), cookies.refresh.as_bytes()];
    // Every Cookie line, not only the first: none may carry the token on. Names are trimmed
    // as the decision trims them, so no spelling the decision reads stays behind.
    let kept: Vec<Vec<u8>> = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|line| line.as_bytes().split(|&b| b == b';'))
        .filter(|chunk| {
            let name = chunk.split(|&b| b == b'=').next().unwrap_or_default();
            !chunk.trim_ascii().is_empty() && !names.contains(&source::trim(name))
        })
        .map(|chunk| chunk.trim_ascii().to_vec())
        .collect();
    headers.remove(COOKIE);
    if let Ok(value) = HeaderValue::from_bytes(&kept.join(&b"; "[..])) {
        if !kept.is_empty() {
            headers.insert(COOKIE, value);
        }
    }
}

/// The subject travels verbatim when it is printable ASCII without leading or trailing spaces
/// (so no parser on the way can change it). Anything else (control characters, CR/LF,
/// non-ASCII, edge spaces) is percent-encoded as UTF-8, `%` included, and flagged with
/// `X-Auth-Subject-Encoding: percent`. Either way the value is one header and cannot add another.
pub fn subject_header_value(subject: &str) -> (HeaderValue, bool) {
    let verbatim = subject.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !subject.starts_with(' ')
        && !subject.ends_with(' ');
    if verbatim {
        if let Ok(v) = HeaderValue::from_str(subject) {
            return (v, false);
        }
    }
    let mut encoded = String::with_capacity(subject.len() * 3);
    for b in subject.bytes() {
        match b {
            0x21..=0x7e if b != b'%' => encoded.push(char::from(b)),
            _ => encoded.push_str(&format!("%{b:02X}")),
        }
    }
    // Only visible ASCII was pushed, which is always a valid header value.
    let value = HeaderValue::from_str(&encoded).unwrap_or(HeaderValue::from_static(""));
    (value, true)
}

/// Adds the client to `X-Forwarded-For` (appending to a chain the client sent, as nginx's
/// `$proxy_add_x_forwarded_for` does) and sets `X-Forwarded-Proto` and `X-Forwarded-Host`. From a
/// trusted proxy, the `X-Forwarded-Proto` and `X-Forwarded-Host` it sent are kept (set when
/// absent) and RFC 7239 `Forwarded` passes; from any other peer they are set, and `Forwarded` is
/// removed, so a client never chooses the scheme or host the upstream sees. `client` is the
/// client's address as header text, formatted once per connection.
pub fn set_forwarded(headers: &mut HeaderMap, client: &HeaderValue, trusted: bool) {
    // One lookup (a custom name is hashed byte by byte) whether or not the client sent one.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(vacant) => {
            vacant.insert(client.clone());
        }
        Entry::Occupied(mut chain) => {
            // The readable lines of the client's chain, in order; an unreadable line is
            // dropped with its separator.
            let mut xff = String::new();
            for line in chain
                .iter()
                .filter_map(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
            {
                xff.push_str(line);
                xff.push_str(", ");
            }
            xff.push_str(client.to_str().unwrap_or_default());
            match HeaderValue::from_str(&xff) {
                Ok(v) => drop(chain.insert(v)),
                Err(_) => drop(chain.remove_entry_mult()),
            }
        }
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if !(trusted && headers.contains_key(&X_FORWARDED_HOST)) {
        match headers.get(HOST).cloned() {
            Some(host) => headers.insert(X_FORWARDED_HOST, host),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }
    if !trusted {
        headers.remove(FORWARDED);
    }
}

#[cfg(test)]
mod tests;
