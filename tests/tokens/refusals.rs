//! Config refusals for keys and forwarding, each naming the key, its line and a fix.

use std::path::Path;

use freshgate::config::ConfigError;
use serde_json::{json, Value};

use crate::secret_jwt;

use crate::keys::*;

/// A whole config around `jwt` and `rest`, for parsing only (nothing listens on the upstream).
fn parse_only(jwt: &str, rest: &str) -> String {
    let routes = if rest.is_empty() {
        "[[route]]\npath = \"/protected\"\npolicy = \"access\"\n"
    } else {
        rest
    };
    format!("[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\n{jwt}\n\n{routes}")
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} is not in the config"))
        + 1
}

/// Parses `text`, expects it refused, and returns the error for `key`, checking it points at
/// the line holding `at`, says `message_part` and carries a fix.
#[track_caller]
fn assert_refused(text: &str, key: &str, at: &str, message_part: &str, case: &str) -> ConfigError {
    let errors = match freshgate::config::parse(text, "test.toml", Path::new(".")) {
        Ok(_) => panic!("{case}: the config was accepted:\n{text}"),
        Err(errors) => errors.0,
    };
    let found = errors.iter().find(|e| e.key == key).unwrap_or_else(|| {
        panic!(
            "{case}: no error names {key}; got:\n{}",
            freshgate::config::ConfigErrors(errors.clone())
        )
    });
    assert!(
        found.message.contains(message_part),
        "{case}: the message {:?} says {message_part:?}",
        found.message
    );
    assert!(!found.fix.is_empty(), "{case}: the error has a fix");
    assert_eq!(
        found.line,
        line_of(text, at),
        "{case}: the error points at the line with {at:?}"
    );
    assert_eq!(found.file, "test.toml", "{case}: the error names the file");
    found.clone()
}

#[test]
fn an_unreadable_public_key_file_is_refused_naming_the_key() {
    for (what, path) in [
        ("a missing file", key_path("TEST-ONLY-does-not-exist.pem")),
        ("a directory", key_path("")),
    ] {
        let text = parse_only(
            &format!(
                "public_key_file = {}\nalgorithms = [\"RS256\"]",
                toml_path(&path)
            ),
            "",
        );
        let error = assert_refused(
            &text,
            "jwt.public_key_file",
            "public_key_file",
            "cannot read",
            what,
        );
        assert!(
            error.message.contains(&path.display().to_string()),
            "{what}: the message names the path: {}",
            error.message
        );
    }
}

/// A config whose `public_key_file` lists the real RSA public key and then `path`.
fn with_public_key_file(path: &Path) -> String {
    parse_only(
        &format!(
            "public_key_file = [{}, {}]\nalgorithms = [\"RS256\"]",
            toml_key(RSA_PUBLIC),
            toml_path(path)
        ),
        "",
    )
}

#[test]
fn a_file_that_is_not_a_pem_public_key_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write an empty file");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
    )
    .expect("write a fake PEM");
    let cases = [
        ("an empty file", empty),
        ("a PEM whose body is not a key", garbage),
        ("a README", key_path("README.md")),
        ("a JWKS", key_path(JWKS)),
    ];
    for (what, path) in cases {
        let name = path.file_name().expect("a file name").to_string_lossy();
        let text = with_public_key_file(&path);
        assert_refused(&text, "jwt.public_key_file", "public_key_file", &name, what);
    }
}

#[test]
fn a_private_key_given_as_public_key_file_is_refused_at_load() {
    // Pointing public_key_file at the private key is a common slip; accepted, it would fail
    // every token at request time (or worse, keep a private key in the gateway's memory).
    let cases = [
        ("an RSA private key (PKCS#8)", RSA_PRIVATE),
        ("an RSA private key (PKCS#1)", RSA_PRIVATE_PKCS1),
        ("a P-256 private key", P256_PRIVATE),
        ("a P-384 private key", P384_PRIVATE),
        ("an Ed25519 private key", ED25519_PRIVATE),
    ];
    let accepted: Vec<&str> = cases
        .iter()
        .filter(|(_, name)| {
            let text = with_public_key_file(&key_path(name));
            freshgate::config::parse(&text, "test.toml", Path::new(".")).is_ok()
        })
        .map(|(what, _)| *what)
        .collect();
    assert_eq!(
        accepted,
        Vec::<&str>::new(),
        "private keys accepted as public_key_file"
    );
    for (what, name) in cases {
        let text = with_public_key_file(&key_path(name));
        assert_refused(&text, "jwt.public_key_file", "public_key_file", name, what);
    }
}

#[test]
fn a_jwks_without_usable_keys_is_refused() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let jwks: Value = serde_json::from_slice(&key_bytes(JWKS)).expect("the test JWKS is JSON");
    let enc_only: Vec<Value> = jwks["keys"]
        .as_array()
        .expect("a key list")
        .iter()
        .filter(|k| k["use"] == "enc")
        .cloned()
        .collect();
    assert_eq!(enc_only.len(), 1, "the test JWKS has one enc key");
    let cases = [
        (
            "only an encryption key",
            json!({ "keys": enc_only }).to_string(),
            "no usable key",
        ),
        (
            "an empty key list",
            json!({ "keys": [] }).to_string(),
            "no usable key",
        ),
        (
            "a key on an unsupported curve",
            json!({ "keys": [{ "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" }] }).to_string(),
            "no usable key",
        ),
        (
            "not JSON",
            "-----BEGIN PUBLIC KEY-----".to_string(),
            "not a JSON Web Key Set",
        ),
    ];
    for (i, (what, content, message)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("jwks-{i}.json"));
        std::fs::write(&path, content).expect("write the JWKS");
        let text = parse_only(
            &format!("jwks_file = {}\nalgorithms = [\"RS256\"]", toml_path(&path)),
            "",
        );
        assert_refused(&text, "jwt.jwks_file", "jwks_file", message, what);
    }
}

#[test]
fn an_algorithm_that_no_configured_key_can_verify_is_refused() {
    let cases = [
        (
            "ES256 with only the P-384 key",
            format!(
                "public_key_file = {}\nalgorithms = [\"ES384\", \"ES256\"]",
                toml_key(P384_PUBLIC)
            ),
            "\"ES256\"",
        ),
        (
            "the default HS256 with only an RSA key",
            format!("public_key_file = {}", toml_key(RSA_PUBLIC)),
            "(the default)",
        ),
        (
            "HS256 with only an RSA key",
            format!(
                "public_key_file = {}\nalgorithms = [\"RS256\", \"HS256\"]",
                toml_key(RSA_PUBLIC)
            ),
            "\"HS256\"",
        ),
        (
            "RS256 with only a secret",
            secret_jwt("algorithms = [\"HS256\", \"RS256\"]"),
            "\"RS256\"",
        ),
        (
            "PS256 with only the JWKS key pinned to RS256",
            format!(
                "jwks_file = {}\nalgorithms = [\"RS256\", \"PS256\"]",
                toml_key(JWKS)
            ),
            "\"PS256\"",
        ),
        (
            "EdDSA with only the P-256 key",
            format!(
                "public_key_file = {}\nalgorithms = [\"EdDSA\"]",
                toml_key(P256_PUBLIC)
            ),
            "\"EdDSA\"",
        ),
    ];
    for (what, jwt, message) in cases {
        let text = parse_only(&jwt, "");
        let at = if jwt.contains("algorithms") {
            "algorithms"
        } else {
            "[jwt]"
        };
        assert_refused(&text, "jwt.algorithms", at, message, what);
    }
    let text = parse_only(&secret_jwt("algorithms = [\"HS256\", \"none\"]"), "");
    assert_refused(
        &text,
        "jwt.algorithms",
        "algorithms",
        "never accepted",
        "none in the list",
    );
}

#[test]
fn max_age_on_a_route_that_is_not_fresh_is_refused() {
    for policy in ["access", "optional", "refresh", "public"] {
        let routes = format!("[[route]]\npath = \"/x\"\npolicy = \"{policy}\"\nmax_age = \"5m\"\n");
        let text = parse_only(&secret_jwt(""), &routes);
        assert_refused(
            &text,
            "route[1].max_age",
            "max_age",
            "fresh",
            &format!("max_age on a {policy} route"),
        );
    }
}

#[test]
fn a_claim_header_outside_x_auth_or_set_by_freshgate_is_refused() {
    let cases = [
        ("X-Roles", "X-Auth-"),
        ("Authorization", "X-Auth-"),
        ("X-Authx-Roles", "X-Auth-"),
        ("X-Auth-Subject", "set by freshgate itself"),
        ("x-auth-subject", "set by freshgate itself"),
        ("X-Auth-Fresh", "set by freshgate itself"),
    ];
    for (header, message) in cases {
        let rest = format!(
            "[forward]\nclaims = {{ \"{header}\" = \"roles\" }}\n\n[[route]]\npath = \"/x\"\npolicy = \"access\"\n"
        );
        let text = parse_only(&secret_jwt(""), &rest);
        assert_refused(
            &text,
            &format!("forward.claims.{header:?}"),
            "claims",
            message,
            &format!("claims header {header}"),
        );
    }
}
