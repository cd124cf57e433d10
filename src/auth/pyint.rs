//! Python's `int()` over JSON claim values, as PyJWT 1.7.1 applies it to `iat`, `nbf` and
//! `exp`: the integers and the errors it gives.

use serde_json::Value;

use super::DecodeError;

/// Why Python's `int()` refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnInt {
    /// `ValueError`: a string that is not an integer. PyJWT turns it into its own message.
    Value,
    /// `TypeError` for `None`, `list` or `dict`: PyJWT lets it through with Python's text.
    Type(&'static str),
}

impl NotAnInt {
    /// The decode error: `value_error` for a `ValueError`, Python's text for a `TypeError`.
    pub(super) fn or(self, value_error: DecodeError) -> DecodeError {
        match self {
            NotAnInt::Value => value_error,
            NotAnInt::Type(name) => DecodeError::TimeClaimType(name),
        }
    }
}

/// Python's `int(value)` for a JSON value: integers, floats (truncated), booleans and numeric
/// strings (surrounding whitespace, a sign and `_` between digits allowed). Values beyond i128
/// saturate, which orders them correctly against any real time.
pub fn python_int(value: &Value) -> Result<i128, NotAnInt> {
    match value {
        Value::Bool(b) => Ok(i128::from(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                Ok(i128::from(u))
            } else {
                // `as` saturates for finite out-of-range values; NaN and infinities never
                // come out of serde_json.
                let f = n.as_f64().ok_or(NotAnInt::Value)?;
                Ok(f.trunc() as i128)
            }
        }
        Value::String(s) => parse_python_int_str(s).ok_or(NotAnInt::Value),
        Value::Null => Err(NotAnInt::Type("NoneType")),
        Value::Array(_) => Err(NotAnInt::Type("list")),
        Value::Object(_) => Err(NotAnInt::Type("dict")),
    }
}

fn parse_python_int_str(s: &str) -> Option<i128> {
    let s = s.trim_matches(|c: char| c.is_whitespace());
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return None;
    }
    let mut value: i128 = 0;
    let mut previous_underscore = false;
    for &b in bytes {
        match b {
            b'_' if previous_underscore => return None,
            b'_' => previous_underscore = true,
            b'0'..=b'9' => {
                previous_underscore = false;
                value = value
                    .saturating_mul(10)
                    .saturating_add(i128::from(b - b'0'));
            }
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}
