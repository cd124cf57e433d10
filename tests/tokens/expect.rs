//! Requests with text headers, and what a reply must be: the gateway's own rejection (with or
//! without a challenge) or a forward with the token's subject.

use std::net::SocketAddr;

use http::StatusCode;
use serde_json::json;

use crate::support::{send, Reply};

/// Sends a request with text headers.
pub async fn call(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let raw: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    send(addr, method, path, &raw).await
}

/// `GET path` with `Authorization: Bearer <token>`.
pub async fn get_bearer(addr: SocketAddr, path: &str, token: &str) -> Reply {
    call(
        addr,
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await
}

/// Every `WWW-Authenticate` value of a reply.
pub fn challenges(reply: &Reply) -> Vec<String> {
    reply.header_values("www-authenticate")
}

/// The reply is the gateway's own `{"detail": ...}` answer with this status, and nothing else.
#[track_caller]
pub fn assert_rejected(reply: &Reply, status: u16, detail: &str, case: &str) {
    assert_eq!(
        reply.status.as_u16(),
        status,
        "{case}: status (body {})",
        reply.text()
    );
    assert_eq!(
        reply.text(),
        json!({ "detail": detail }).to_string(),
        "{case}: the body is exactly {{\"detail\": ...}}"
    );
    assert_eq!(
        reply
            .headers
            .get("content-type")
            .map(|v| v.as_bytes().to_vec()),
        Some(b"application/json".to_vec()),
        "{case}: content-type"
    );
    assert!(
        reply.headers.get("x-upstream").is_none(),
        "{case}: the answer came from the gateway, not the upstream"
    );
}

/// A 422 carries no challenge (RFC 6750 challenges belong to 401s).
#[track_caller]
pub fn assert_422(reply: &Reply, detail: &str, case: &str) {
    assert_rejected(reply, 422, detail, case);
    assert_eq!(
        challenges(reply),
        Vec::<String>::new(),
        "{case}: a 422 has no WWW-Authenticate"
    );
}

/// The request reached the upstream with this verified subject.
#[track_caller]
pub fn assert_forwarded(reply: &Reply, subject: &str, case: &str) {
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{case}: forwarded (body {})",
        reply.text()
    );
    assert_eq!(
        reply.upstream_saw("x-auth-subject"),
        [subject],
        "{case}: the upstream saw the token's subject"
    );
}

/// What the gateway must answer a request with.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// Forwarded, and the upstream saw this verified subject.
    Forwarded(&'static str),
    /// The gateway's own answer with this status and detail.
    Rejected(u16, &'static str),
    /// 422 with this detail and no challenge.
    Unprocessable(&'static str),
}

/// The reply is what `want` says, for the case `what`.
#[track_caller]
pub fn assert_wanted(reply: &Reply, want: Want, what: &str) {
    match want {
        Want::Forwarded(subject) => assert_forwarded(reply, subject, what),
        Want::Rejected(status, detail) => assert_rejected(reply, status, detail, what),
        Want::Unprocessable(detail) => assert_422(reply, detail, what),
    }
}
