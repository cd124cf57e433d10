//! What the judge needs to know of flask-jwt-extended 4.7.4: the `msg` key, its "no token"
//! texts, how it reads the Authorization header (comma-separated credentials, the server joining
//! repeated headers with `, `), and that every token but `type: "refresh"` is an access token.

use serde_json::{Map, Value};

use crate::judge::{Headers, Library};

/// flask-jwt-extended with its default settings (`JWT_ERROR_MESSAGE_KEY = "msg"`,
/// `Authorization: Bearer`).
pub const FLASK_JWT_EXTENDED: Library = Library {
    message_key: "msg",
    no_token,
    header_token,
    token_type,
};

/// The library's `NoAuthorizationError` texts (missing header, missing `Bearer` element, missing
/// cookie, missing query parameter, and the several-locations summary); `Missing CSRF token`
/// is a rejected token, not a missing one.
fn no_token(message: &str) -> bool {
    message.starts_with("Missing ") && message != "Missing CSRF token"
}

/// Only `type == "refresh"` is a refresh token (`verify_token_type`).
fn token_type(claims: &Map<String, Value>) -> String {
    match claims.get("type") {
        Some(Value::String(t)) if t == "refresh" => "refresh".into(),
        _ => "access".into(),
    }
}

/// Python's `str.isspace` on latin-1 text: Rust's whitespace plus the separators 0x1C-0x1F.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `_decode_jwt_from_headers`: the Authorization headers as waitress hands them over (joined
/// with `, `, latin-1), `strip()`, `strip(",")`, split on `,\s*`; exactly one element whose first
/// word is `Bearer`, of exactly two words: the second.
fn header_token(headers: &Headers) -> Option<String> {
    let values: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.iter().map(|&b| char::from(b)).collect())
        .collect();
    let joined = values.join(", ");
    let value = joined.trim_matches(python_space).trim_matches(',');
    let elements: Vec<&str> = value
        .split(',')
        .map(|element| element.trim_start_matches(python_space))
        .filter(|element| element.split(python_space).next() == Some("Bearer"))
        .collect();
    let [element] = elements.as_slice() else {
        return None;
    };
    let words: Vec<&str> = element
        .split(python_space)
        .filter(|w| !w.is_empty())
        .collect();
    match words.as_slice() {
        [_, token] => Some((*token).to_string()),
        _ => None,
    }
}
