//! Unit tables for the header rewrite: hop-by-hop removal, identity headers, the
//! `X-Forwarded-*` family, the request id, the report marker, claim headers and token removal.

use super::*;

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
