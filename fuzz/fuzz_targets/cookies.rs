//! Cookie tokens and CSRF double submit through the whole decision
//! (`freshgate::auth::decide_reporting`), with `token_location = ["headers", "cookies"]`.
//! Never panics, and:
//!
//! - every rejection is a 4xx with a non-empty detail;
//! - `Ok(Authenticated)` on a CSRF method from a cookie token means the `X-CSRF-Token` header
//!   was sent and equals the token's `csrf` claim;
//! - `Ok(Anonymous)` only on `optional` (or `public`).
//!
//! Input: byte 0 picks the method (bits 0-1) and the policy (bits 2-4); bit 5 says whether the
//! data is a raw `Cookie` header or the payload of a correctly signed token put in
//! `access_token_cookie`/`refresh_token_cookie`; the rest is split at the first 0xFF into that
//! data and the `X-CSRF-Token` value.

#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use freshgate::auth::{decide_reporting, Outcome, Rule};
use freshgate::auth::Policy;
use freshgate::Snapshot;
use http::{HeaderMap, HeaderValue, Method};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const NOW_MS: i64 = 1_750_000_000_000;

fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let text = r#"
[upstreams]
app = "http://127.0.0.1:9"

[jwt]
secret = "fuzz-secret-not-for-production"
token_location = ["headers", "cookies"]

[[route]]
prefix = "/"
policy = "public"
"#;
        freshgate::config::parse(text, "fuzz.toml", std::path::Path::new("."))
            .unwrap_or_else(|e| panic!("the fuzz target's own config is invalid:\n{e}"))
    })
}

fn signed(payload: &[u8]) -> String {
    static KEY: OnceLock<EncodingKey> = OnceLock::new();
    let key = KEY
        .get_or_init(|| EncodingKey::from_secret(b"fuzz-secret-not-for-production").expect("key"));
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), key, Algorithm::HS256).expect("sign");
    format!("{input}.{sig}")
}

fuzz_target!(|input: &[u8]| {
    let Some((&control, rest)) = input.split_first() else {
        return;
    };
    let method =
        [Method::GET, Method::POST, Method::DELETE, Method::PUT][usize::from(control & 3)].clone();
    let policy = Policy::ALL[usize::from((control >> 2) & 7) % 5];
    let (data, csrf) = match rest.iter().position(|&b| b == 0xff) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut headers = HeaderMap::new();
    let cookie = match control & 0x20 {
        0 => data.to_vec(),
        _ => {
            let token = signed(data);
            format!("access_token_cookie={token}; refresh_token_cookie={token}").into_bytes()
        }
    };
    let Ok(cookie) = HeaderValue::from_bytes(&cookie) else {
        return;
    };
    headers.insert(http::header::COOKIE, cookie);
    if let Some(csrf) = csrf {
        let Ok(csrf) = HeaderValue::from_bytes(csrf) else {
            return;
        };
        headers.insert("x-csrf-token", csrf);
    }
    let settings = &snapshot().auth;
    let rule = Rule {
        policy,
        max_age: None,
    };
    match decide_reporting(settings, rule, &method, &headers, NOW_MS) {
        Err((e, _)) => {
            assert!(e.status().is_client_error(), "{e:?} is not a 4xx");
            assert!(!e.detail().is_empty(), "{e:?} has an empty detail");
        }
        Ok(Outcome::Anonymous) => assert!(
            matches!(policy, Policy::Public | Policy::Optional),
            "{policy} let a request through without a token"
        ),
        Ok(Outcome::Authenticated(identity)) => {
            let csrf_method = settings.cookies().csrf_methods.contains(&method);
            if csrf_method {
                let sent = headers.get("x-csrf-token").map(HeaderValue::as_bytes);
                let claim = identity
                    .claims
                    .get("csrf")
                    .and_then(Value::as_str)
                    .map(str::as_bytes);
                assert!(
                    sent.is_some() && sent == claim,
                    "a cookie token passed CSRF without a matching header"
                );
            }
        }
    }
});
