//! The whole token decision (`freshgate::auth::decide`) on arbitrary header bytes and on
//! correctly signed HS256 tokens with arbitrary payloads, plus the identity headers built from
//! an accepted token. Never panics, and:
//!
//! - `public` is always `Ok(Anonymous)`; `Ok(Anonymous)` otherwise only on `optional`;
//! - `Ok(Authenticated)` always carries the token type the policy wants, as the `type` claim;
//! - a `fresh` policy never returns `Ok` with a non-fresh identity;
//! - a correctly signed token never fails on its signature or its header shape, and an
//!   accepted one satisfies the configured issuer and audience;
//! - only the first value of the token header counts;
//! - every rejection is a 4xx with a non-empty detail;
//! - `X-Auth-Subject` carries the `sub` claim verbatim or percent-encoded, as one header value.
//!
//! Input layout: byte 0 is a control byte, the rest is data.
//!
//! | bits of byte 0 | meaning                                                                 |
//! |----------------|-------------------------------------------------------------------------|
//! | 0-2            | policy: `Policy::ALL[(b & 7) % 5]` (public, optional, access, fresh, refresh) |
//! | 3-4            | settings: 0 and 3 `Authorization: Bearer`, 1 bare token in `X-Token`, 2 issuer + audience + leeway |
//! | 5              | 0: the data is the raw header value; 1: the data is the payload of a signed token |
//! | 6              | raw: split the data at the first `\n` into two values of the header; signed: spelling, see [`spelled`] |
//! | 7              | raw: send the value under `Cookie` instead (no token header); signed: spelling |

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use freshgate::auth::{decide, AuthError, DecodeError, Outcome, TokenType};
use freshgate::headers::{set_identity, X_AUTH_SUBJECT, X_AUTH_SUBJECT_ENCODING};
use freshgate::auth::Policy;
use freshgate::Snapshot;
use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The HMAC secret of every settings variant; `fuzz/make_seeds.py` signs the seeds with it.
const SECRET: &str = "fuzz-secret-not-for-production";
/// A fixed clock (2025-06-15T15:06:40Z), so a crash reproduces; the seeds are minted around it.
const NOW_MS: i64 = 1_750_000_000_000;
const ISSUER: &str = "https://auth.example";
const AUDIENCE: [&str; 2] = ["my-api", "other-api"];
const JWS_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

const BASE: &str = r#"
[upstreams]
app = "http://127.0.0.1:9"

[[route]]
prefix = "/"
policy = "public"
"#;

const JWT_DEFAULT: &str = r#"
[jwt]
secret = "fuzz-secret-not-for-production"
"#;

const JWT_BARE: &str = r#"
[jwt]
secret = "fuzz-secret-not-for-production"
algorithms = ["HS256", "HS512"]
header_name = "X-Token"
header_type = ""
"#;

const JWT_STRICT: &str = r#"
[jwt]
secret = "fuzz-secret-not-for-production"
issuer = "https://auth.example"
audience = ["my-api", "other-api"]
leeway = "30s"
"#;

struct Variant {
    snapshot: Snapshot,
    bare: bool,
    strict: bool,
}

fn variants() -> &'static [Variant; 3] {
    static VARIANTS: OnceLock<[Variant; 3]> = OnceLock::new();
    VARIANTS.get_or_init(|| {
        let build = |jwt: &str, bare: bool, strict: bool| Variant {
            snapshot: freshgate::config::parse(
                &format!("{BASE}{jwt}"),
                "fuzz.toml",
                std::path::Path::new("."),
            )
            .unwrap_or_else(|e| panic!("the fuzz target's own config is invalid:\n{e}")),
            bare,
            strict,
        };
        [
            build(JWT_DEFAULT, false, false),
            build(JWT_BARE, true, false),
            build(JWT_STRICT, false, true),
        ]
    })
}

fn signing_key() -> &'static EncodingKey {
    static KEY: OnceLock<EncodingKey> = OnceLock::new();
    KEY.get_or_init(|| EncodingKey::from_secret(SECRET.as_bytes()).expect("non-empty secret"))
}

/// A correctly signed HS256 token whose payload segment is `payload`, whatever its bytes.
fn signed_token(payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(JWS_HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature =
        jsonwebtoken::crypto::sign(signing_input.as_bytes(), signing_key(), Algorithm::HS256)
            .expect("HMAC signing cannot fail");
    format!("{signing_input}.{signature}")
}

/// The header value carrying `token`, spelled by `variant` (0-3). Returns the value and
/// whether the spelling is one the library refuses (`bearer`, or a type where none is wanted).
fn spelled(token: &str, variant: u8, bare: bool) -> (String, bool) {
    match (bare, variant) {
        (false, 0) => (format!("Bearer {token}"), false),
        (false, 1) => (format!("Bearer\t{token}"), false),
        (false, 2) => (format!("Bearer   {token} "), false),
        (false, _) => (format!("bearer {token}"), true),
        (true, 0) => (token.to_string(), false),
        (true, 1) => (format!(" {token} "), false),
        (true, 2) => (format!("\t{token}"), false),
        (true, _) => (format!("Bearer {token}"), true),
    }
}

fn wanted_type(policy: Policy) -> Option<TokenType> {
    match policy {
        Policy::Public => None,
        Policy::Optional | Policy::Access | Policy::Fresh => Some(TokenType::Access),
        Policy::Refresh => Some(TokenType::Refresh),
    }
}

/// freshgate's documented freshness rule, written out again as an oracle.
fn claims_say_fresh(claims: &serde_json::Map<String, Value>) -> bool {
    match claims.get("fresh") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t * 1000.0 >= NOW_MS as f64),
        _ => false,
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ASCII");
            out.push(u8::from_str_radix(hex, 16).expect("two hex digits after %"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The invariants that hold for every input.
fn check_common(variant: &Variant, policy: Policy, result: &Result<Outcome, AuthError>) {
    match result {
        Err(e) => {
            assert_ne!(policy, Policy::Public, "public never rejects: {e:?}");
            assert!(e.status().is_client_error(), "{e:?} is not a 4xx");
            assert!(!e.detail().is_empty(), "{e:?} has an empty detail");
            assert!(!e.reason().is_empty(), "{e:?} has an empty reason");
        }
        Ok(Outcome::Anonymous) => assert!(
            matches!(policy, Policy::Public | Policy::Optional),
            "{policy} let a request through without a token"
        ),
        Ok(Outcome::Authenticated(identity)) => {
            let wanted = wanted_type(policy).expect("public never authenticates");
            assert_eq!(identity.token_type, wanted, "{policy}: wrong token type");
            assert_eq!(
                identity.claims.get("type").and_then(Value::as_str),
                Some(wanted.as_str()),
                "{policy}: the type claim disagrees with the identity"
            );
            if policy == Policy::Fresh {
                assert!(identity.fresh, "fresh policy accepted a non-fresh identity");
                assert!(
                    claims_say_fresh(&identity.claims),
                    "fresh policy accepted claims that are not fresh"
                );
            }
            let audience = identity.claims.get("aud");
            match variant.strict {
                true => {
                    let claimed: Vec<&str> = match audience {
                        Some(Value::String(s)) => vec![s.as_str()],
                        Some(Value::Array(items)) => {
                            items.iter().filter_map(Value::as_str).collect()
                        }
                        _ => Vec::new(),
                    };
                    assert!(
                        AUDIENCE.iter().any(|a| claimed.contains(a)),
                        "accepted a token for another audience"
                    );
                    if matches!(policy, Policy::Access | Policy::Fresh) {
                        assert_eq!(
                            identity.claims.get("iss").and_then(Value::as_str),
                            Some(ISSUER),
                            "accepted a token from another issuer"
                        );
                    }
                }
                false => assert!(audience.is_none(), "accepted an unexpected audience"),
            }
            check_identity_headers(identity);
        }
    }
}

/// `X-Auth-Subject` is the `sub` claim, verbatim or percent-encoded, and one header value.
fn check_identity_headers(identity: &freshgate::auth::Identity) {
    let mut headers = HeaderMap::new();
    set_identity(&mut headers, identity);
    let Some(subject) = identity.subject() else {
        assert!(headers.get(X_AUTH_SUBJECT).is_none(), "subject without sub");
        return;
    };
    assert_eq!(headers.get_all(X_AUTH_SUBJECT).iter().count(), 1);
    let value = headers[X_AUTH_SUBJECT].to_str().expect("visible ASCII");
    let sent = match headers.get(X_AUTH_SUBJECT_ENCODING) {
        Some(_) => percent_decode(value),
        None => value.as_bytes().to_vec(),
    };
    assert_eq!(
        sent,
        subject.as_bytes(),
        "X-Auth-Subject does not round-trip"
    );
}

fn raw_mode(variant: &Variant, policy: Policy, control: u8, data: &[u8]) {
    let snapshot = &variant.snapshot;
    let name = match control & 0x80 {
        0 => snapshot.auth.header_name().clone(),
        _ => HeaderName::from_static("cookie"),
    };
    let (first, second) = match (control & 0x40, data.iter().position(|&b| b == b'\n')) {
        (0, _) | (_, None) => (data, None),
        (_, Some(i)) => (&data[..i], Some(&data[i + 1..])),
    };
    let Ok(first) = HeaderValue::from_bytes(first) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.append(name.clone(), first);
    let alone = decide(&snapshot.auth, policy, &headers, NOW_MS);
    check_common(variant, policy, &alone);
    if let Some(Ok(second)) = second.map(HeaderValue::from_bytes) {
        headers.append(name, second);
        let both = decide(&snapshot.auth, policy, &headers, NOW_MS);
        check_common(variant, policy, &both);
        assert_eq!(alone, both, "a second header value changed the decision");
    }
}

fn signed_mode(variant: &Variant, policy: Policy, control: u8, payload: &[u8]) {
    let snapshot = &variant.snapshot;
    let token = signed_token(payload);
    let (value, refused_spelling) = spelled(&token, control >> 6, variant.bare);
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&value).expect("a token is visible ASCII");
    headers.insert(snapshot.auth.header_name().clone(), value);
    let result = decide(&snapshot.auth, policy, &headers, NOW_MS);
    check_common(variant, policy, &result);
    if policy == Policy::Public {
        return;
    }
    match &result {
        Err(AuthError::BadHeader(_)) => {
            assert!(refused_spelling, "a well-formed header was refused")
        }
        _ if refused_spelling => panic!("{result:?} for a header the library refuses"),
        Err(AuthError::MissingToken(_)) => panic!("a present token was reported missing"),
        Err(AuthError::Decode(DecodeError::SignatureFailed)) => {
            panic!("a correctly signed token failed its signature check")
        }
        Ok(Outcome::Anonymous) => panic!("a present token was ignored"),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let policy = Policy::ALL[usize::from(control & 7) % Policy::ALL.len()];
    let variant = &variants()[usize::from((control >> 3) & 3) % 3];
    match control & 0x20 {
        0 => raw_mode(variant, policy, control, rest),
        _ => signed_mode(variant, policy, control, rest),
    }
});
