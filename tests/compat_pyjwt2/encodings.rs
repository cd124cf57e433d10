//! How PyJWT 2.15 reads the three segments: strict base64url (no `=` beyond the padding to a
//! multiple of 4, no character outside `A-Za-z0-9-_`, canonical low bits only), JSON text in
//! UTF-8, UTF-16 or UTF-32 (a UTF-8 BOM skipped), and the `crit` and `b64` header members, each
//! with its exact detail. 0.5.0 read base64 leniently and ignored `crit`.

use jsonwebtoken::Algorithm;

use crate::access;
use crate::case::Expect::*;
use crate::case::*;
use crate::fork;
use crate::gateway::Stack;
use crate::judge::assert_cases;
use crate::support::forge::{b64, raw_token, sign_input, HS256_HEADER};
use crate::support::{ClaimsExt, SECRET};

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `segment` with its last character moved one step up the alphabet: for a length that is not a
/// multiple of 4 this sets unused low bits, so the bytes stay the same and only the text changes.
fn non_canonical(segment: &str) -> String {
    assert_ne!(segment.len() % 4, 0, "a segment with unused low bits");
    let last = segment.chars().last().expect("a segment");
    let at = ALPHABET.find(last).expect("a base64url character");
    let next = ALPHABET.as_bytes()[at + 1] as char;
    format!("{}{next}", &segment[..segment.len() - 1])
}

/// `segment` with `insert` in its middle.
fn with_inside(segment: &str, insert: &str) -> String {
    let mid = segment.len() / 2;
    format!("{}{insert}{}", &segment[..mid], &segment[mid..])
}

/// A token with its header, payload or signature segment replaced by `edit(segment)`; the
/// signature is recomputed over edited header and payload segments.
fn edited(which: usize, edit: impl Fn(&str) -> String) -> String {
    let input = format!("{}.{}", b64(HS256_HEADER), b64(access(true).text()));
    let good = sign_input(&input);
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    parts[which] = edit(&parts[which]);
    match which {
        2 => parts.join("."),
        _ => sign_input(&format!("{}.{}", parts[0], parts[1])),
    }
}

/// One way of spoiling a segment's base64url.
type Edit = fn(&str) -> String;

/// For each segment: padding, characters outside the alphabet, and (where the length allows)
/// non-canonical low bits.
fn base64_rows() -> Vec<Case> {
    let mut rows = Vec::new();
    for (which, name) in [(0, "header"), (1, "payload"), (2, "signature")] {
        let edits: [(&str, Edit); 7] = [
            ("one `=` after", |s| format!("{s}=")),
            ("two `=` after", |s| format!("{s}==")),
            ("three `=` after", |s| format!("{s}===")),
            ("a `!` inside", |s| with_inside(s, "!")),
            ("a `+` inside", |s| with_inside(s, "+")),
            ("a `/` inside", |s| with_inside(s, "/")),
            ("an `=` inside", |s| with_inside(s, "=")),
        ];
        for (what, edit) in edits {
            let case = format!("{what} the {name} segment");
            rows.push(row(
                case,
                to("/protected").bearer(edited(which, edit)),
                Same,
            ));
        }
    }
    // The payload (length 3 mod 4 here) and the signature (43 characters) have unused low bits;
    // the library's header (36 characters) has none.
    rows.push(row(
        "non-canonical low bits in the payload segment",
        to("/protected").bearer(edited(1, non_canonical)),
        Same,
    ));
    rows.push(row(
        "non-canonical low bits in the signature segment",
        to("/protected").bearer(edited(2, non_canonical)),
        Same,
    ));
    rows
}

/// Headers whose base64url needs padding, with exactly the `=` that make a multiple of 4.
fn exact_padding_rows() -> Vec<Case> {
    let payload = b64(access(true).text());
    [r#"{"alg":"HS256","xy":1}"#, r#"{"alg":"HS256","xyz":1}"#]
        .into_iter()
        .map(|header| {
            let segment = b64(header);
            let padded = format!("{segment}{}", "=".repeat((4 - segment.len() % 4) % 4));
            row(
                format!("the header {header} with exactly its padding to a multiple of 4 is fine"),
                to("/protected").bearer(sign_input(&format!("{padded}.{payload}"))),
                Same,
            )
        })
        .collect()
}

/// UTF-16 encodings of `text` (with a BOM, as Python writes it).
fn utf16(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend(unit.to_le_bytes());
    }
    bytes
}

#[rustfmt::skip]
fn json_text_rows() -> Vec<Case> {
    let header = b64(HS256_HEADER);
    let payload = access(true).text();
    let bom_payload = [&[0xEF, 0xBB, 0xBF][..], payload.as_bytes()].concat();
    let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
    vec![
        row("a payload in UTF-16 is read", to("/protected").bearer(sign_input(&format!("{header}.{}", b64(utf16(&payload))))), Same),
        row("a header in UTF-16 is read", to("/protected").bearer(sign_input(&format!("{}.{}", b64(utf16(HS256_HEADER)), b64(&payload)))), Same),
        row("a payload after a UTF-8 BOM is read", to("/protected").bearer(sign_input(&format!("{header}.{}", b64(bom_payload)))), Same),
        row("a payload nested past the recursion limit is Invalid payload string", to("/protected").bearer(raw_token(HS256_HEADER, &deep, Algorithm::HS256, SECRET)), Same),
        row("a header nested past the recursion limit is Invalid header string", to("/protected").bearer(sign_input(&format!("{}.{}", b64(&deep), b64(&payload)))), Same),
    ]
}

#[rustfmt::skip]
fn crit_rows() -> Vec<Case> {
    let payload = b64(access(true).text());
    let under = |header: &str| sign_input(&format!("{}.{payload}", b64(header)));
    let empty_payload = |header: &str| sign_input(&format!("{}.", b64(header)));
    vec![
        row("crit [\"b64\"] with b64 true is fine", to("/protected").bearer(under(r#"{"alg":"HS256","crit":["b64"],"b64":true}"#)), Same),
        row("crit naming another extension is unsupported", to("/protected").bearer(under(r#"{"alg":"HS256","crit":["exp"]}"#)), Same),
        row("an empty crit list is refused", to("/protected").bearer(under(r#"{"alg":"HS256","crit":[]}"#)), Same),
        row("crit that is a string is refused", to("/protected").bearer(under(r#"{"alg":"HS256","crit":"b64"}"#)), Same),
        row("crit holding a number is refused", to("/protected").bearer(under(r#"{"alg":"HS256","crit":[5]}"#)), Same),
        row("crit [\"b64\"] without a b64 member is refused", to("/protected").bearer(under(r#"{"alg":"HS256","crit":["b64"]}"#)), Same),
        row("b64 false with a payload segment is refused", to("/protected").bearer(under(r#"{"alg":"HS256","b64":false}"#)), Same),
        row("b64 false and crit [\"b64\"] with a payload segment is refused", to("/protected").bearer(under(r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#)), Same),
        row("b64 false without crit and an empty payload segment is refused", to("/protected").bearer(empty_payload(r#"{"alg":"HS256","b64":false}"#)), Same),
        row("b64 false and crit [\"b64\"] with an empty payload segment wants a detached payload", to("/protected").bearer(empty_payload(r#"{"alg":"HS256","b64":false,"crit":["b64"]}"#)), Same),
        row("b64 0 is not false and is ignored", to("/protected").bearer(under(r#"{"alg":"HS256","b64":0}"#)), Same),
        row("b64 false is refused before a numeric kid", to("/protected").bearer(under(r#"{"alg":"HS256","kid":5,"b64":false}"#)), Same),
        row("a numeric kid is refused before an unsupported crit", to("/protected").bearer(under(r#"{"alg":"HS256","kid":5,"crit":["exp"]}"#)), Same),
        // 0.5.0 crashed here (alg none); the header check now refuses the token first.
        row("an unsupported crit is refused before alg none crashes the library", to("/protected").bearer(under(r#"{"alg":"none","crit":["exp"]}"#)), Same),
    ]
}

#[tokio::test]
async fn fork_and_freshgate_agree_on_base64_json_text_and_crit() {
    let app = fork::start(&[]).await;
    let stack = Stack::start("").await;
    let mut cases = base64_rows();
    cases.extend(exact_padding_rows());
    cases.extend(json_text_rows());
    cases.extend(crit_rows());
    assert_cases("base64, JSON text and crit", &app, &stack, cases).await;
}
