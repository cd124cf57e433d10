//! Unit tables for the header rewrite: hop-by-hop removal, identity headers, the
//! `X-Forwarded-*` family, the request id, the report marker, claim headers and token removal.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::json;

use super::*;
use crate::auth::jws::VerifyKey;
use crate::auth::{CookieSettings, Decoder, TokenType};

#[test]
fn subjects_that_are_safe_travel_verbatim_and_others_are_percent_encoded() {
    let cases = [
        ("alice", "alice", false),
        ("a b", "a b", false),
        ("50%", "50%", false),
        (" alice", "%20alice", true),
        (
            "alice\r\nX-Auth-Admin: 1",
            "alice%0D%0AX-Auth-Admin:%201",
            true,
        ),
        ("josé", "jos%C3%A9", true),
        ("tab\there", "tab%09here", true),
        ("", "", false),
    ];
    for (sub, want, encoded) in cases {
        let (value, was_encoded) = subject_header_value(sub);
        assert_eq!(value.to_str().unwrap(), want, "sub {sub:?}");
        assert_eq!(was_encoded, encoded, "sub {sub:?}");
    }
}

#[test]
fn connection_named_headers_and_hop_by_hop_headers_are_removed() {
    let mut h = HeaderMap::new();
    h.insert(CONNECTION, HeaderValue::from_static("close, X-Secret"));
    h.insert("x-secret", HeaderValue::from_static("1"));
    h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
    h.insert(TE, HeaderValue::from_static("trailers"));
    h.insert("x-kept", HeaderValue::from_static("1"));
    remove_hop_by_hop(&mut h);
    let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
    assert_eq!(left, ["x-kept"], "only end-to-end headers remain");
}

// ---------------------------------------------------------------------------------------------
// Tables over rewrite_request
// ---------------------------------------------------------------------------------------------

/// The client address of every row.
static CLIENT: HeaderValue = HeaderValue::from_static("203.0.113.7");
/// The gateway's request id of every row.
static REQUEST_ID: HeaderValue = HeaderValue::from_static("req-1");
/// The Host most rows send.
const GATEWAY: (&str, &str) = ("host", "gateway.test");

/// What a row's [`Forward`] holds, in owned form, so that rows can be written in one table.
#[derive(Default)]
struct Setup<'a> {
    authority: Option<&'static str>,
    reported: Option<&'static str>,
    /// The verified token's claims: its `type` gives the token type (access unless
    /// `"refresh"`), its `fresh` claim the freshness (JSON `true` only, here).
    identity: Option<Value>,
    claims: &'a [ClaimHeader],
    strip_token: Option<&'a AuthSettings>,
}

/// An anonymous forward: no absolute-form authority, nothing reported, no claims, no strip.
fn plain<'a>() -> Setup<'a> {
    Setup::default()
}

impl<'a> Setup<'a> {
    fn authority(self, authority: &'static str) -> Self {
        Setup {
            authority: Some(authority),
            ..self
        }
    }

    fn reporting(self, reason: &'static str) -> Self {
        Setup {
            reported: Some(reason),
            ..self
        }
    }

    fn verified(self, claims: Value) -> Self {
        Setup {
            identity: Some(claims),
            ..self
        }
    }

    fn mapping(self, claims: &'a [ClaimHeader]) -> Self {
        Setup { claims, ..self }
    }

    fn strip(self, settings: &'a AuthSettings) -> Self {
        Setup {
            strip_token: Some(settings),
            ..self
        }
    }
}

fn identity_of(claims: &Value) -> Identity {
    let Value::Object(map) = claims else {
        panic!("identity claims are a JSON object");
    };
    Identity {
        claims: Arc::new(map.clone()),
        token_type: match map.get("type").and_then(Value::as_str) {
            Some("refresh") => TokenType::Refresh,
            _ => TokenType::Access,
        },
        fresh: map.get("fresh") == Some(&Value::Bool(true)),
    }
}

/// Request headers from `(name, value)` lines, in order.
fn given(lines: &[(&str, &str)]) -> HeaderMap {
    let lines: Vec<(&str, &[u8])> = lines.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    given_bytes(&lines)
}

/// [`given`] for values that are not text.
fn given_bytes(lines: &[(&str, &[u8])]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in lines {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        let value = HeaderValue::from_bytes(value).expect("a valid header value");
        headers.append(name, value);
    }
    headers
}

/// What the upstream should see of some headers: `Some(value)` for exactly one line with that
/// value, `None` for no line at all.
type Expect<'e> = &'e [(&'e str, Option<&'e str>)];

/// One row: its name, the client's headers, the forward, and what the upstream should see.
type Row<'a> = (&'static str, HeaderMap, Setup<'a>, Expect<'a>);

/// Rewrites every row's headers and fails once, listing every header that differs.
fn check(rows: Vec<Row<'_>>) {
    let total = rows.len();
    let failures: Vec<String> = rows
        .into_iter()
        .filter_map(|(name, mut headers, setup, expect)| {
            let identity = setup.identity.as_ref().map(identity_of);
            let authority = setup.authority.map(Authority::from_static);
            let forward = Forward {
                authority: authority.as_ref(),
                client_ip: &CLIENT,
                trusted: false,
                upgrade: false,
                request_id: &REQUEST_ID,
                reported: setup.reported,
                identity: identity.as_ref(),
                claims: setup.claims,
                strip_token: setup.strip_token,
            };
            rewrite_request(&mut headers, &forward);
            let wrong: Vec<String> = expect
                .iter()
                .filter_map(|(header, want)| {
                    let got: Vec<String> = headers
                        .get_all(*header)
                        .iter()
                        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                        .collect();
                    let want: Vec<String> = want.iter().map(|v| v.to_string()).collect();
                    (got != want).then(|| format!("    {header}: want {want:?}, got {got:?}"))
                })
                .collect();
            (!wrong.is_empty()).then(|| format!("  {name}\n{}", wrong.join("\n")))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {total} rewrites differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A verified access token for `alice`.
fn alice() -> Value {
    json!({"sub": "alice", "type": "access", "fresh": false, "jti": "j-1"})
}

/// `base` with every key of `changes` set.
fn with(mut base: Value, changes: Value) -> Value {
    if let (Value::Object(map), Value::Object(changes)) = (&mut base, changes) {
        map.extend(changes);
    }
    base
}

#[test]
fn hop_by_hop_headers_and_every_header_connection_names_are_removed() {
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("the connection-specific headers are removed", given(&[GATEWAY, ("connection", "keep-alive"), ("keep-alive", "timeout=5"), ("proxy-connection", "keep-alive"), ("te", "trailers"), ("trailer", "x-sum"), ("transfer-encoding", "chunked"), ("upgrade", "websocket"), ("x-end-to-end", "kept")]), plain(), &[("connection", None), ("keep-alive", None), ("proxy-connection", None), ("te", None), ("trailer", None), ("transfer-encoding", None), ("upgrade", None), ("x-end-to-end", Some("kept"))]),
        ("headers named in Connection are removed", given(&[GATEWAY, ("connection", "close, X-Secret"), ("x-secret", "1"), ("x-kept", "1")]), plain(), &[("x-secret", None), ("x-kept", Some("1"))]),
        ("Connection names are trimmed and case-insensitive", given(&[GATEWAY, ("connection", " X-A ,x-B,   x-c"), ("x-a", "1"), ("x-b", "1"), ("x-c", "1")]), plain(), &[("x-a", None), ("x-b", None), ("x-c", None)]),
        ("every Connection line counts", given(&[GATEWAY, ("connection", "x-a"), ("connection", "x-b"), ("x-a", "1"), ("x-b", "1")]), plain(), &[("x-a", None), ("x-b", None)]),
        ("every line of a named header is removed", given(&[GATEWAY, ("connection", "x-a"), ("x-a", "1"), ("x-a", "2")]), plain(), &[("x-a", None)]),
        ("a Connection token that is not a header name is skipped, the others still count", given(&[GATEWAY, ("connection", "bad name, x-a"), ("x-a", "1")]), plain(), &[("x-a", None), ("connection", None)]),
        ("Connection: Host does not remove Host", given(&[GATEWAY, ("connection", "Host")]), plain(), &[("host", Some("gateway.test")), ("x-forwarded-host", Some("gateway.test"))]),
        ("Connection: X-Request-Id cannot remove the request id", given(&[GATEWAY, ("connection", "X-Request-Id"), ("x-request-id", "abc-1")]), plain(), &[("x-request-id", Some("req-1"))]),
        ("Connection: X-Forwarded-For drops the client's chain before the client is added", given(&[GATEWAY, ("connection", "X-Forwarded-For"), ("x-forwarded-for", "10.1.2.3")]), plain(), &[("x-forwarded-for", Some("203.0.113.7"))]),
        ("Connection: X-Auth-Subject cannot remove the verified subject", given(&[GATEWAY, ("connection", "X-Auth-Subject")]), plain().verified(alice()), &[("x-auth-subject", Some("alice"))]),
        ("Connection: X-Auth-Reported cannot remove the report marker", given(&[GATEWAY, ("connection", "X-Auth-Reported")]), plain().reporting("missing"), &[("x-auth-reported", Some("missing"))]),
    ];
    check(rows);
}

#[test]
fn every_client_sent_x_auth_header_is_removed_in_every_spelling() {
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("X-Auth-* in any case is removed on an anonymous forward", given(&[GATEWAY, ("x-auth-subject", "admin"), ("X-Auth-Fresh", "true"), ("X-AUTH-TOKEN-TYPE", "access"), ("x-auth-anything", "1"), ("x-auth-subject-encoding", "percent")]), plain(), &[("x-auth-subject", None), ("x-auth-fresh", None), ("x-auth-token-type", None), ("x-auth-anything", None), ("x-auth-subject-encoding", None)]),
        ("X_Auth_* and mixed spellings are removed", given(&[GATEWAY, ("x_auth_subject", "admin"), ("X_Auth-Fresh", "true"), ("x-auth_token-type", "access"), ("x_auth_anything", "1")]), plain(), &[("x_auth_subject", None), ("x_auth-fresh", None), ("x-auth_token-type", None), ("x_auth_anything", None)]),
        ("a client-sent report marker is removed when nothing is reported", given(&[GATEWAY, ("x-auth-reported", "none")]), plain(), &[("x-auth-reported", None)]),
        ("a client-sent report marker is replaced when something is reported", given(&[GATEWAY, ("x-auth-reported", "none")]), plain().reporting("not_fresh"), &[("x-auth-reported", Some("not_fresh"))]),
        ("a client-sent subject is replaced by the verified one, one line only", given(&[GATEWAY, ("x-auth-subject", "admin"), ("x_auth_subject", "admin")]), plain().verified(alice()), &[("x-auth-subject", Some("alice")), ("x_auth_subject", None)]),
        ("headers that only resemble the prefix are kept", given(&[GATEWAY, ("x-auth", "1"), ("x-authx", "1"), ("x-author", "1"), ("xx-auth-subject", "1"), ("authorization", "Bearer t")]), plain(), &[("x-auth", Some("1")), ("x-authx", Some("1")), ("x-author", Some("1")), ("xx-auth-subject", Some("1")), ("authorization", Some("Bearer t"))]),
    ];
    check(rows);
}

#[test]
fn forwarded_headers_append_the_client_and_name_the_scheme_and_the_host() {
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("without a chain X-Forwarded-For is the client", given(&[GATEWAY]), plain(), &[("x-forwarded-for", Some("203.0.113.7"))]),
        ("the client is appended to the chain it sent", given(&[GATEWAY, ("x-forwarded-for", "10.1.2.3")]), plain(), &[("x-forwarded-for", Some("10.1.2.3, 203.0.113.7"))]),
        ("several X-Forwarded-For lines are joined into one, then the client appended", given(&[GATEWAY, ("x-forwarded-for", "10.0.0.1"), ("x-forwarded-for", "10.0.0.2, 10.0.0.3")]), plain(), &[("x-forwarded-for", Some("10.0.0.1, 10.0.0.2, 10.0.0.3, 203.0.113.7"))]),
        ("an X-Forwarded-For line that is not visible ASCII is dropped from the chain", given_bytes(&[(GATEWAY.0, GATEWAY.1.as_bytes()), ("x-forwarded-for", b"10.0.0.1"), ("x-forwarded-for", b"caf\xe9")]), plain(), &[("x-forwarded-for", Some("10.0.0.1, 203.0.113.7"))]),
        ("X-Forwarded-Proto is http whatever the client says", given(&[GATEWAY, ("x-forwarded-proto", "https")]), plain(), &[("x-forwarded-proto", Some("http"))]),
        ("X-Forwarded-Host is the Host", given(&[GATEWAY]), plain(), &[("x-forwarded-host", Some("gateway.test")), ("host", Some("gateway.test"))]),
        ("a client-sent X-Forwarded-Host is replaced by the Host", given(&[GATEWAY, ("x-forwarded-host", "evil.test")]), plain(), &[("x-forwarded-host", Some("gateway.test"))]),
        ("without Host a client-sent X-Forwarded-Host is removed", given(&[("x-forwarded-host", "evil.test")]), plain(), &[("x-forwarded-host", None), ("host", None)]),
        ("an absolute-form authority replaces Host, and X-Forwarded-Host follows it", given(&[("host", "other.test")]), plain().authority("example.test:8080"), &[("host", Some("example.test:8080")), ("x-forwarded-host", Some("example.test:8080"))]),
        ("an absolute-form authority sets Host when none was sent", given(&[]), plain().authority("example.test"), &[("host", Some("example.test")), ("x-forwarded-host", Some("example.test"))]),
        ("the request id is the gateway's, replacing the client's", given(&[GATEWAY, ("x-request-id", "client-chosen")]), plain(), &[("x-request-id", Some("req-1"))]),
        ("the report marker carries the unenforced reason", given(&[GATEWAY]), plain().reporting("not_fresh"), &[("x-auth-reported", Some("not_fresh"))]),
        ("an enforced or clean forward carries no report marker", given(&[GATEWAY]), plain().verified(alice()), &[("x-auth-reported", None)]),
    ];
    check(rows);
}

#[test]
fn identity_headers_are_set_from_the_verified_token_only() {
    let sub = |value: Value| plain().verified(with(alice(), json!({ "sub": value })));
    let no_sub = || {
        let mut claims = alice();
        claims.as_object_mut().map(|m| m.remove("sub"));
        plain().verified(claims)
    };
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("an access token sets subject, fresh and type", given(&[GATEWAY]), plain().verified(alice()), &[("x-auth-subject", Some("alice")), ("x-auth-subject-encoding", None), ("x-auth-fresh", Some("false")), ("x-auth-token-type", Some("access"))]),
        ("a fresh token says fresh true", given(&[GATEWAY]), plain().verified(with(alice(), json!({"fresh": true}))), &[("x-auth-fresh", Some("true"))]),
        ("a refresh token says its type and fresh false", given(&[GATEWAY]), plain().verified(json!({"sub": "alice", "type": "refresh"})), &[("x-auth-token-type", Some("refresh")), ("x-auth-fresh", Some("false"))]),
        ("an integer subject is its decimal text", given(&[GATEWAY]), sub(json!(42)), &[("x-auth-subject", Some("42")), ("x-auth-subject-encoding", None)]),
        ("an object subject is compact JSON, verbatim", given(&[GATEWAY]), sub(json!({"id": 1})), &[("x-auth-subject", Some(r#"{"id":1}"#)), ("x-auth-subject-encoding", None)]),
        ("a subject with a percent sign travels verbatim", given(&[GATEWAY]), sub(json!("50%")), &[("x-auth-subject", Some("50%")), ("x-auth-subject-encoding", None)]),
        ("a subject with CR LF is percent-encoded and flagged, and adds no header", given(&[GATEWAY]), sub(json!("eve\r\nX-Auth-Admin: yes")), &[("x-auth-subject", Some("eve%0D%0AX-Auth-Admin:%20yes")), ("x-auth-subject-encoding", Some("percent")), ("x-auth-admin", None)]),
        ("a non-ASCII subject is percent-encoded as UTF-8 and flagged", given(&[GATEWAY]), sub(json!("josé")), &[("x-auth-subject", Some("jos%C3%A9")), ("x-auth-subject-encoding", Some("percent"))]),
        ("a subject with a leading space is percent-encoded and flagged", given(&[GATEWAY]), sub(json!(" alice")), &[("x-auth-subject", Some("%20alice")), ("x-auth-subject-encoding", Some("percent"))]),
        ("a client-sent encoding flag does not survive a verbatim subject", given(&[GATEWAY, ("x-auth-subject-encoding", "percent")]), plain().verified(alice()), &[("x-auth-subject", Some("alice")), ("x-auth-subject-encoding", None)]),
        ("no subject claim sends no subject, but fresh and type", given(&[GATEWAY, ("x-auth-subject", "admin")]), no_sub(), &[("x-auth-subject", None), ("x-auth-fresh", Some("false")), ("x-auth-token-type", Some("access"))]),
        ("a null subject sends no subject", given(&[GATEWAY]), sub(json!(null)), &[("x-auth-subject", None), ("x-auth-subject-encoding", None)]),
        ("an anonymous forward sends no identity headers", given(&[GATEWAY]), plain(), &[("x-auth-subject", None), ("x-auth-fresh", None), ("x-auth-token-type", None)]),
    ];
    check(rows);
}

/// `[forward] claims` as the config builds them: a header, its `-Encoding` flag, a dotted path.
fn claim(header: &'static str, path: &str) -> ClaimHeader {
    ClaimHeader {
        header: HeaderName::from_static(header),
        encoding_header: HeaderName::from_bytes(format!("{header}-encoding").as_bytes())
            .expect("a valid header name"),
        path: path.split('.').map(str::to_owned).collect(),
    }
}

#[test]
fn claim_headers_follow_dotted_paths_join_arrays_and_skip_absent_claims() {
    let mapping = [
        claim("x-auth-roles", "roles"),
        claim("x-auth-tenant", "org.id"),
        claim("x-auth-org", "org"),
        claim("x-auth-deep", "a.b.c"),
        claim("x-auth-email", "email"),
    ];
    let token = |claims: Value| plain().verified(with(alice(), claims)).mapping(&mapping);
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("an array of strings is comma-joined", given(&[GATEWAY]), token(json!({"roles": ["admin", "dev"]})), &[("x-auth-roles", Some("admin,dev"))]),
        ("array items that are not strings are their JSON text", given(&[GATEWAY]), token(json!({"roles": [1, "a", true, null, {"x": 1}]})), &[("x-auth-roles", Some(r#"1,a,true,null,{"x":1}"#))]),
        ("an empty array sends an empty header", given(&[GATEWAY]), token(json!({"roles": []})), &[("x-auth-roles", Some(""))]),
        ("a dotted path reaches a nested claim", given(&[GATEWAY]), token(json!({"org": {"id": 7}})), &[("x-auth-tenant", Some("7")), ("x-auth-org", Some(r#"{"id":7}"#))]),
        ("a nested string is sent as is", given(&[GATEWAY]), token(json!({"org": {"id": "acme"}})), &[("x-auth-tenant", Some("acme"))]),
        ("a three-segment path reaches three levels down", given(&[GATEWAY]), token(json!({"a": {"b": {"c": true}}})), &[("x-auth-deep", Some("true"))]),
        ("a path through a string sends nothing", given(&[GATEWAY]), token(json!({"org": "acme"})), &[("x-auth-tenant", None), ("x-auth-org", Some("acme"))]),
        ("a path through an array sends nothing (no indexing)", given(&[GATEWAY]), token(json!({"a": [{"b": {"c": 1}}]})), &[("x-auth-deep", None)]),
        ("a key that contains a dot is not a path", given(&[GATEWAY]), token(json!({"org.id": "x"})), &[("x-auth-tenant", None)]),
        ("an absent claim sends nothing", given(&[GATEWAY]), token(json!({})), &[("x-auth-roles", None), ("x-auth-tenant", None), ("x-auth-org", None), ("x-auth-deep", None), ("x-auth-email", None)]),
        ("a null claim sends nothing", given(&[GATEWAY]), token(json!({"roles": null, "org": {"id": null}})), &[("x-auth-roles", None), ("x-auth-tenant", None)]),
        ("numbers and booleans are their JSON text", given(&[GATEWAY]), token(json!({"email": 1.5, "roles": false})), &[("x-auth-email", Some("1.5")), ("x-auth-roles", Some("false"))]),
        ("a value with CR LF is percent-encoded and flagged with <header>-Encoding", given(&[GATEWAY]), token(json!({"email": "a@b\r\nX-Auth-Admin: 1"})), &[("x-auth-email", Some("a@b%0D%0AX-Auth-Admin:%201")), ("x-auth-email-encoding", Some("percent")), ("x-auth-admin", None)]),
        ("a non-ASCII value is percent-encoded and flagged", given(&[GATEWAY]), token(json!({"roles": ["café"]})), &[("x-auth-roles", Some("caf%C3%A9")), ("x-auth-roles-encoding", Some("percent"))]),
        ("a verbatim value has no flag, even a client-sent one", given(&[GATEWAY, ("x-auth-email-encoding", "percent")]), token(json!({"email": "a@b.test"})), &[("x-auth-email", Some("a@b.test")), ("x-auth-email-encoding", None)]),
        ("a client-sent claim header is removed when the claim is absent", given(&[GATEWAY, ("x-auth-roles", "admin"), ("X_Auth_Tenant", "acme")]), token(json!({})), &[("x-auth-roles", None), ("x_auth_tenant", None)]),
        ("a client-sent claim header is replaced by the claim", given(&[GATEWAY, ("x-auth-roles", "admin")]), token(json!({"roles": ["dev"]})), &[("x-auth-roles", Some("dev"))]),
        ("an anonymous forward sends no claim headers", given(&[GATEWAY, ("x-auth-roles", "admin")]), plain().mapping(&mapping), &[("x-auth-roles", None)]),
    ];
    check(rows);
}

/// Token settings with the given locations and cookie names.
fn token_settings(headers: bool, cookies: bool, cookie_names: (&str, &str)) -> AuthSettings {
    let decoder = Decoder {
        algorithms: vec![Algorithm::HS256],
        keys: vec![VerifyKey::hmac(b"secret").expect("an HMAC secret is a valid key")],
        leeway_ms: 0,
        issuer: None,
        audience: None,
        remote: None,
        providers: Vec::new(),
        pyjwt: crate::auth::profile::DecodeRules::PyJwt1_7,
        payload_first: false,
    };
    AuthSettings::builder(decoder)
        .locations(headers, cookies)
        .cookies(CookieSettings {
            access: cookie_names.0.into(),
            refresh: cookie_names.1.into(),
            ..CookieSettings::default()
        })
        .build()
        .expect("Authorization is a valid header name")
}

const DEFAULT_COOKIES: (&str, &str) = ("access_token_cookie", "refresh_token_cookie");
/// A browser's cookies after the app's `/login`, plus one of its own.
const JAR: &str = "theme=dark; access_token_cookie=t; csrf_access_token=c";

#[test]
fn the_token_is_stripped_only_when_strip_token_is_set() {
    let header_only = token_settings(true, false, DEFAULT_COOKIES);
    let both = token_settings(true, true, DEFAULT_COOKIES);
    let custom = token_settings(false, true, ("app_access", "app_refresh"));
    let x_token = AuthSettings::builder(Decoder {
        algorithms: vec![Algorithm::HS256],
        keys: vec![],
        leeway_ms: 0,
        issuer: None,
        audience: None,
        remote: None,
        providers: Vec::new(),
        pyjwt: crate::auth::profile::DecodeRules::PyJwt1_7,
        payload_first: false,
    })
    .header("X-Token", "JWT")
    .build()
    .expect("X-Token is a valid header name");
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("without strip the token header and cookies are forwarded", given(&[GATEWAY, ("authorization", "Bearer t"), ("cookie", JAR)]), plain().verified(alice()), &[("authorization", Some("Bearer t")), ("cookie", Some(JAR))]),
        ("strip removes the token header", given(&[GATEWAY, ("authorization", "Bearer t")]), plain().strip(&header_only), &[("authorization", None)]),
        ("strip removes every line of the token header", given(&[GATEWAY, ("authorization", "Bearer t"), ("authorization", "Bearer u")]), plain().strip(&header_only), &[("authorization", None)]),
        ("with headers only, strip leaves Cookie alone", given(&[GATEWAY, ("cookie", JAR)]), plain().strip(&header_only), &[("cookie", Some(JAR))]),
        ("with cookies, strip removes the access cookie and keeps the others", given(&[GATEWAY, ("authorization", "Bearer t"), ("cookie", JAR)]), plain().strip(&both), &[("authorization", None), ("cookie", Some("theme=dark; csrf_access_token=c"))]),
        ("the refresh cookie is removed too", given(&[GATEWAY, ("cookie", "refresh_token_cookie=r; csrf_refresh_token=c")]), plain().strip(&both), &[("cookie", Some("csrf_refresh_token=c"))]),
        ("token cookies are removed from every Cookie line, the rest joined into one", given(&[GATEWAY, ("cookie", "a=1; access_token_cookie=t"), ("cookie", "refresh_token_cookie=r; b=2")]), plain().strip(&both), &[("cookie", Some("a=1; b=2"))]),
        ("a Cookie of only token cookies is removed", given(&[GATEWAY, ("cookie", "access_token_cookie=t"), ("cookie", "refresh_token_cookie=r")]), plain().strip(&both), &[("cookie", None)]),
        ("names are trimmed as the decision trims them", given(&[GATEWAY, ("cookie", "  access_token_cookie = t ;x=1")]), plain().strip(&both), &[("cookie", Some("x=1"))]),
        ("a repeated token cookie is removed every time", given(&[GATEWAY, ("cookie", "access_token_cookie=t; access_token_cookie=u; x=1")]), plain().strip(&both), &[("cookie", Some("x=1"))]),
        ("an empty token cookie is removed", given(&[GATEWAY, ("cookie", "access_token_cookie=; x=1")]), plain().strip(&both), &[("cookie", Some("x=1"))]),
        ("names that only resemble the token cookies are kept", given(&[GATEWAY, ("cookie", "access_token_cookiex=1; Access_Token_Cookie=2")]), plain().strip(&both), &[("cookie", Some("access_token_cookiex=1; Access_Token_Cookie=2"))]),
        ("empty chunks are dropped", given(&[GATEWAY, ("cookie", ";; a=1;;")]), plain().strip(&both), &[("cookie", Some("a=1"))]),
        ("custom cookie names are removed and the default names kept", given(&[GATEWAY, ("cookie", "app_access=t; app_refresh=r; access_token_cookie=x")]), plain().strip(&custom), &[("cookie", Some("access_token_cookie=x"))]),
        ("a custom token header is removed and Authorization kept", given(&[GATEWAY, ("x-token", "JWT t"), ("authorization", "Basic x")]), plain().strip(&x_token), &[("x-token", None), ("authorization", Some("Basic x"))]),
        ("stripping keeps the identity headers", given(&[GATEWAY, ("authorization", "Bearer t")]), plain().verified(alice()).strip(&header_only), &[("authorization", None), ("x-auth-subject", Some("alice"))]),
    ];
    check(rows);
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing these tables (ignored rows; remove the ignore with the fix)
// ---------------------------------------------------------------------------------------------

#[test]
fn a_token_cookie_the_decision_reads_is_stripped_whatever_whitespace_surrounds_its_name() {
    let both = token_settings(true, true, DEFAULT_COOKIES);
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("a no-break space (0xA0) around the access cookie's name", given_bytes(&[(GATEWAY.0, GATEWAY.1.as_bytes()), ("cookie", b"\xa0access_token_cookie\xa0=t; theme=dark")]), plain().strip(&both), &[("cookie", Some("theme=dark"))]),
        ("a next-line byte (0x85) before the refresh cookie's name", given_bytes(&[(GATEWAY.0, GATEWAY.1.as_bytes()), ("cookie", b"theme=dark; \x85refresh_token_cookie=r")]), plain().strip(&both), &[("cookie", Some("theme=dark"))]),
    ];
    check(rows);
}

#[test]
fn an_unreadable_x_forwarded_for_line_leaves_no_empty_element() {
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("the only line is unreadable", given_bytes(&[(GATEWAY.0, GATEWAY.1.as_bytes()), ("x-forwarded-for", b"caf\xe9")]), plain(), &[("x-forwarded-for", Some("203.0.113.7"))]),
    ];
    check(rows);
}

#[test]
fn headers_named_on_a_connection_line_with_other_bytes_are_still_removed() {
    #[rustfmt::skip]
    let rows: Vec<Row<'_>> = vec![
        ("a named header beside a non-ASCII token is removed", given_bytes(&[(GATEWAY.0, GATEWAY.1.as_bytes()), ("connection", b"x-a, caf\xe9"), ("x-a", b"1")]), plain(), &[("x-a", None), ("connection", None)]),
    ];
    check(rows);
}
