//! How long does decoding and verifying one token take, per algorithm freshgate accepts?
//!
//! `Decoder::decode` end to end: split and base64-decode the segments, parse the header,
//! check the algorithm, verify the signature, parse the payload, check `iat`, `nbf`, `exp`,
//! `iss` and `aud`. Each decoder comes from a config, as the gateway builds it.
//!
//! HS256, HS384 and HS512 always run. RS256, PS256, ES256, ES384 and EdDSA need key pairs,
//! which are made fresh with `openssl` for each run (the test suite's TEST-ONLY keys stay the
//! test suite's); without `openssl` only the HMAC algorithms are measured.
// Tests fail loudly by design, and hand owned tables to their assertion helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::needless_pass_by_value
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use freshgate::auth::TokenType;
use freshgate::token::{sign_hmac, TokenSpec};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const SECRET: &str = "freshgate-bench-secret-not-for-production";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One algorithm to measure: the `[jwt]` key lines of its config and a token it accepts.
struct Case {
    name: &'static str,
    jwt: String,
    token: String,
}

/// The claims fastapi-jwt-auth writes, valid for a day so no iteration meets an expired token.
fn claims() -> serde_json::Map<String, serde_json::Value> {
    let mut spec = TokenSpec::new("bench-user", TokenType::Access, false);
    spec.expires_in = Some(Duration::from_secs(24 * 3600));
    spec.claims(now_ms() / 1000)
}

fn hmac_case(name: &'static str, alg: Algorithm) -> Case {
    let token = sign_hmac(&claims(), SECRET.as_bytes(), alg)
        .unwrap_or_else(|e| panic!("cannot sign an {name} token: {e}"));
    Case {
        name,
        jwt: format!("algorithms = [\"{name}\"]\nsecret = \"{SECRET}\""),
        token,
    }
}

/// Makes a PKCS#8 private key and its SPKI public key with `openssl genpkey` / `pkey`.
/// `None` when openssl is missing; a failing openssl is a broken machine, said loudly.
fn key_pair(dir: &Path, name: &str, genpkey: &[&str]) -> Option<(PathBuf, PathBuf)> {
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub.pem"));
    let run = |args: &[&std::ffi::OsStr]| match Command::new("openssl").args(args).output() {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => panic!(
            "openssl {:?} failed: {}",
            args.first(),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(_) => None,
    };
    let mut args: Vec<&std::ffi::OsStr> = vec!["genpkey".as_ref()];
    args.extend(genpkey.iter().map(|a| -> &std::ffi::OsStr { a.as_ref() }));
    args.extend(["-out".as_ref(), private.as_os_str()]);
    run(&args)?;
    run(&[
        "pkey".as_ref(),
        "-in".as_ref(),
        private.as_os_str(),
        "-pubout".as_ref(),
        "-out".as_ref(),
        public.as_os_str(),
    ])?;
    Some((private, public))
}

fn asymmetric_cases(dir: &Path) -> Vec<Case> {
    let keys: [(&str, &[&str]); 4] = [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ),
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        (
            "p384",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ),
        ("ed25519", &["-algorithm", "ED25519"]),
    ];
    let algorithms = [
        ("RS256", Algorithm::RS256, "rsa"),
        ("PS256", Algorithm::PS256, "rsa"),
        ("ES256", Algorithm::ES256, "p256"),
        ("ES384", Algorithm::ES384, "p384"),
        ("EdDSA", Algorithm::EdDSA, "ed25519"),
    ];
    let mut pairs = Vec::new();
    for (name, genpkey) in keys {
        let Some(pair) = key_pair(dir, name, genpkey) else {
            eprintln!("verify: openssl not found; measuring the HMAC algorithms only");
            return Vec::new();
        };
        pairs.push((name, pair));
    }
    algorithms
        .into_iter()
        .map(|(name, alg, key)| {
            let (private, public) = pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, pair)| pair)
                .unwrap_or_else(|| panic!("no {key} key pair was made"));
            let pem = std::fs::read(private)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", private.display()));
            let encoding = match key {
                "rsa" => EncodingKey::from_rsa_pem(&pem),
                "ed25519" => EncodingKey::from_ed_pem(&pem),
                _ => EncodingKey::from_ec_pem(&pem),
            }
            .unwrap_or_else(|e| panic!("cannot load the {key} private key: {e}"));
            let token = jsonwebtoken::encode(&Header::new(alg), &claims(), &encoding)
                .unwrap_or_else(|e| panic!("cannot sign an {name} token: {e}"));
            Case {
                name,
                jwt: format!(
                    "algorithms = [\"{name}\"]\npublic_key_file = \"{}\"",
                    public.display()
                ),
                token,
            }
        })
        .collect()
}

fn verify(c: &mut Criterion) {
    let scratch = tempfile::tempdir()
        .unwrap_or_else(|e| panic!("cannot create a directory for the key pairs: {e}"));
    let mut cases = vec![
        hmac_case("HS256", Algorithm::HS256),
        hmac_case("HS384", Algorithm::HS384),
        hmac_case("HS512", Algorithm::HS512),
    ];
    cases.extend(asymmetric_cases(scratch.path()));
    let mut group = c.benchmark_group("verify");
    for case in &cases {
        let config = format!(
            "[upstreams]\napp = \"http://127.0.0.1:9\"\n\n[jwt]\n{}\n\n\
             [[route]]\nprefix = \"/\"\npolicy = \"access\"\n",
            case.jwt
        );
        let snapshot = freshgate::config::parse(&config, "verify.toml", Path::new("."))
            .unwrap_or_else(|e| panic!("the {} bench config is refused:\n{e}", case.name));
        let decoder = snapshot.auth.decoder();
        let now = now_ms();
        if let Err(e) = decoder.decode(case.token.as_bytes(), true, now) {
            panic!("the {} bench token does not verify: {e:?}", case.name);
        }
        group.bench_with_input(
            BenchmarkId::new("decode", case.name),
            &case.token,
            |b, token| b.iter(|| decoder.decode(black_box(token.as_bytes()), true, black_box(now))),
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // Short by default so `cargo bench` finishes; pass --measurement-time for more.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = verify
}
criterion_main!(benches);
