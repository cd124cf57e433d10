//! `freshgate explain`: what the gateway would do with one request, computed by the same
//! [`pipeline::evaluate`] the server runs, without serving or contacting an upstream.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::auth::Outcome;
use crate::config::Snapshot;
use crate::error::json_body;
use crate::headers;
use crate::pipeline::{self, RequestHead};
use crate::routes::{Matcher, Mode};

/// The printed explanation and whether the request would be forwarded.
pub struct Report {
    pub text: String,
    pub forwarded: bool,
}

/// Explains `method url` with an optional token and extra `Name: value` headers. `Err` is a
/// usage mistake (bad method, URL or header), with a message.
pub fn explain(
    snapshot: &Snapshot,
    method: &str,
    url: &str,
    token: Option<&str>,
    extra: &[String],
    now_ms: i64,
) -> Result<Report, String> {
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("{method:?} is not an HTTP method"))?;
    let uri: Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a request target: {e}"))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("explain.invalid"),
    );
    for line in extra {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header {line:?}: write it as 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header {line:?}: bad header name"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header {line:?}: bad header value"))?;
        headers.append(name, value);
    }
    if let Some(token) = token {
        let auth = &snapshot.auth;
        let value = match auth.header_type.as_str() {
            "" => token.to_string(),
            kind => format!("{kind} {token}"),
        };
        let value = HeaderValue::from_str(&value)
            .map_err(|_| "--token: not a valid header value".to_string())?;
        headers.insert(auth.header_name.clone(), value);
    }
    let head = RequestHead {
        method: &method,
        uri: &uri,
        version: Version::HTTP_11,
        headers: &headers,
    };
    let evaluation = pipeline::evaluate(snapshot, &head, now_ms);
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "request:    {method} {url}");
    let _ = writeln!(
        text,
        "canonical:  {}",
        evaluation.target.as_ref().map_or("-", |t| t.as_str())
    );
    match evaluation.route {
        Some(route) => {
            let (kind, pattern) = match &route.matcher {
                Matcher::Path(p) => ("path", p),
                Matcher::Prefix(p) => ("prefix", p),
            };
            let upstream = &snapshot.upstreams[route.upstream];
            let _ = writeln!(
                text,
                "route:      route[{}] {kind} {pattern} ({})",
                route.index, route.name
            );
            let mode = match route.mode {
                Mode::Enforce => "enforce",
                Mode::Report => "report",
            };
            let _ = writeln!(text, "policy:     {} (mode {mode})", route.policy);
            let _ = writeln!(
                text,
                "upstream:   {} (http://{})",
                upstream.name, upstream.authority
            );
        }
        None => {
            let _ = writeln!(text, "route:      none");
        }
    }
    let forwarded = match &evaluation.verdict {
        Ok(outcome) => {
            match &evaluation.reported {
                Some(error) => {
                    let _ = writeln!(
                        text,
                        "decision:   forwarded (report mode; enforcing would answer {} {:?}: {})",
                        error.status().as_u16(),
                        error.detail(),
                        error.reason()
                    );
                }
                None => {
                    let _ = writeln!(text, "decision:   forwarded");
                }
            }
            let mut upstream_headers = HeaderMap::new();
            if let Outcome::Authenticated(identity) = outcome {
                headers::set_identity(&mut upstream_headers, identity);
                headers::set_claims(&mut upstream_headers, identity, &snapshot.forward.claims);
            }
            if let Some(reported) = &evaluation.reported {
                upstream_headers.insert(
                    headers::X_AUTH_REPORTED,
                    HeaderValue::from_static(reported.reason()),
                );
            }
            match upstream_headers.is_empty() {
                true => {
                    let _ = writeln!(text, "identity:   none (anonymous)");
                }
                false => {
                    let _ = writeln!(text, "identity headers sent upstream:");
                    for (name, value) in &upstream_headers {
                        let _ = writeln!(
                            text,
                            "  {name}: {}",
                            String::from_utf8_lossy(value.as_bytes())
                        );
                    }
                }
            }
            true
        }
        Err(error) => {
            let status = error.status();
            let _ = writeln!(text, "decision:   rejected ({})", error.reason());
            let _ = writeln!(text, "response:");
            let _ = writeln!(
                text,
                "  HTTP/1.1 {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            );
            let _ = writeln!(text, "  content-type: application/json");
            if let Some(challenge) = error.challenge(evaluation.route.and_then(|r| r.max_age)) {
                let _ = writeln!(
                    text,
                    "  www-authenticate: {}",
                    String::from_utf8_lossy(challenge.as_bytes())
                );
            }
            let _ = writeln!(text);
            let _ = writeln!(text, "  {}", json_body(&error.detail()));
            false
        }
    };
    Ok(Report { text, forwarded })
}
