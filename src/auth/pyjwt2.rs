//! PyJWT 2.15's `_validate_claims` with the options the PyJWT 2 profiles use: `iat` (also in
//! the future), `nbf`, `exp` (expired at `exp == now`), `iss` (must be a string), `aud`
//! (falsy counts as absent; `Audience doesn't match`), then `sub` and `jti` (strings when
//! present). "Now" is not truncated to whole seconds, as PyJWT 2 reads it as a float.

use serde_json::{Map, Value};

use super::jws::{audience_matches, python_int, Claims, DecodeError, Decoder};

/// Which claim checks a decode runs beyond the signature, as the profile's library calls
/// PyJWT 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    pub issuer: bool,
    /// `verify_aud`: flask-jwt-extended turns it off when no audience is configured.
    pub audience: bool,
    /// `verify_exp`: off for flask-jwt-extended's second decode of an expired token.
    pub exp: bool,
}

impl Decoder {
    /// PyJWT 2.15's claim validation.
    pub fn validate_claims_pyjwt2(
        &self,
        claims: &Claims,
        checks: Checks,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        if let Some(provider) = self.provider(claims.get("iss")) {
            let checks = Checks {
                issuer: true,
                audience: true,
                ..checks
            };
            return provider.validate_claims_pyjwt2(claims, checks, now_ms);
        }
        self.times_pyjwt2(claims, checks.exp, now_ms)?;
        if let (true, Some(issuer)) = (checks.issuer, &self.issuer) {
            match claims.get("iss") {
                None => return Err(DecodeError::MissingIssuer),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(Value::String(_)) => return Err(DecodeError::InvalidIssuer),
                Some(_) => return Err(DecodeError::IssuerNotString),
            }
        }
        if checks.audience {
            self.audience_pyjwt2(claims.get("aud"))?;
        }
        match claims.get("sub") {
            None | Some(Value::String(_)) => {}
            Some(_) => return Err(DecodeError::SubjectNotString),
        }
        match claims.get("jti") {
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err(DecodeError::JtiNotString),
        }
    }

    /// `iat` (not in the future), `nbf`, and with `exp` the expiry, against the float clock.
    fn times_pyjwt2(&self, claims: &Claims, exp: bool, now_ms: i64) -> Result<(), DecodeError> {
        let now = i128::from(now_ms);
        let leeway = i128::from(self.leeway_ms);
        // `int(...)` failing in any way (a string that is no number, null, a list) is PyJWT
        // 2's "must be an integer".
        let seconds = |claim: &str, error: DecodeError| -> Result<Option<i128>, DecodeError> {
            claims
                .get(claim)
                .map(|v| {
                    python_int(v)
                        .map(|s| s.saturating_mul(1000))
                        .map_err(|_| error)
                })
                .transpose()
        };
        if let Some(iat) = seconds("iat", DecodeError::IatNotInteger)? {
            if iat > now + leeway {
                return Err(DecodeError::IssuedInFuture);
            }
        }
        if let Some(nbf) = seconds("nbf", DecodeError::NbfNotInteger)? {
            if nbf > now + leeway {
                return Err(DecodeError::NotYetValid);
            }
        }
        match seconds("exp", DecodeError::ExpNotInteger)? {
            Some(at) if exp && at <= now - leeway => Err(DecodeError::Expired),
            _ => Ok(()),
        }
    }

    fn audience_pyjwt2(&self, aud: Option<&Value>) -> Result<(), DecodeError> {
        // Python's truthiness: "", [], {}, 0, false and null are no audience.
        let aud = aud.filter(|v| match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        });
        let (audience, aud) = match (&self.audience, aud) {
            (None, None) => return Ok(()),
            (None, Some(_)) => return Err(DecodeError::InvalidAudience),
            (Some(_), None) => return Err(DecodeError::MissingAudience),
            (Some(audience), Some(aud)) => (audience, aud),
        };
        match audience_matches(audience, aud)? {
            true => Ok(()),
            false => Err(DecodeError::AudienceMismatch),
        }
    }
}

/// The text of a JSON document as Python's `json.loads(bytes)` finds it (`json.detect_encoding`):
/// a UTF-32 or UTF-16 byte-order mark, a UTF-8 one (skipped), or the zero bytes of UTF-16/32
/// text without a mark; otherwise UTF-8. The errors are Python's codec messages.
pub(super) fn utf8(b: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(b).map_err(|e| {
        let pos = e.valid_up_to();
        format!(
            "'utf-8' codec can't decode byte 0x{:02x} in position {pos}",
            b[pos]
        )
    })
}

pub(super) fn json_text(bytes: &[u8]) -> Result<std::borrow::Cow<'_, str>, String> {
    use std::borrow::Cow;
    let units16 = |b: &[u8], big: bool| -> Result<String, String> {
        let units: Vec<u16> = b
            .chunks(2)
            .map(|c| match (c, big) {
                ([hi, lo], true) | ([lo, hi], false) => Ok(u16::from_be_bytes([*hi, *lo])),
                _ => Err("'utf-16' codec can't decode the last byte: truncated data".to_owned()),
            })
            .collect::<Result<_, _>>()?;
        String::from_utf16(&units)
            .map_err(|_| "'utf-16' codec can't decode: illegal encoding".into())
    };
    let units32 = |b: &[u8], big: bool| -> Result<String, String> {
        b.chunks(4)
            .map(|c| {
                let c: [u8; 4] = c
                    .try_into()
                    .map_err(|_| "'utf-32' codec can't decode: truncated data".to_owned())?;
                let n = if big {
                    u32::from_be_bytes(c)
                } else {
                    u32::from_le_bytes(c)
                };
                char::from_u32(n).ok_or_else(|| {
                    "'utf-32' codec can't decode: code point not in range".to_owned()
                })
            })
            .collect()
    };
    Ok(match bytes {
        [0x00, 0x00, 0xfe, 0xff, rest @ ..] => Cow::Owned(units32(rest, true)?),
        [0xff, 0xfe, 0x00, 0x00, rest @ ..] => Cow::Owned(units32(rest, false)?),
        [0xfe, 0xff, rest @ ..] => Cow::Owned(units16(rest, true)?),
        [0xff, 0xfe, rest @ ..] => Cow::Owned(units16(rest, false)?),
        [0xef, 0xbb, 0xbf, rest @ ..] => Cow::Borrowed(utf8(rest)?),
        [0, 0, _, _, ..] => Cow::Owned(units32(bytes, true)?),
        [0, _, _, _, ..] | [0, _] => Cow::Owned(units16(bytes, true)?),
        [_, 0, 0, 0, ..] => Cow::Owned(units32(bytes, false)?),
        [_, 0, _, _, ..] | [_, 0] => Cow::Owned(units16(bytes, false)?),
        _ => Cow::Borrowed(utf8(bytes)?),
    })
}

/// PyJWT 2.15's `crit` header check: a non-empty list of strings naming only `b64`, which
/// must then be present.
pub(super) fn check_crit(header: &Map<String, Value>) -> Result<(), DecodeError> {
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let refuse = |why: String| Err(DecodeError::Header(why));
    let items = match crit {
        Value::Array(items) if !items.is_empty() => items,
        _ => return refuse("Invalid 'crit' header: must be a non-empty list".into()),
    };
    for item in items {
        match item {
            Value::String(name) if name == "b64" => {
                if !header.contains_key("b64") {
                    return refuse("Critical extension 'b64' is missing from headers".into());
                }
            }
            Value::String(name) => {
                return refuse(format!("Unsupported critical extension: {name}"))
            }
            _ => return refuse("Invalid 'crit' header: values must be strings".into()),
        }
    }
    Ok(())
}

/// PyJWT 2.15 with `b64: false` (and an empty payload segment, see `jws::load`): `b64` must be
/// listed in `crit`, and such a token needs a detached payload, which no library passes.
pub(super) fn check_b64(header: &Map<String, Value>) -> Result<(), DecodeError> {
    if header.get("b64") != Some(&Value::Bool(false)) {
        return Ok(());
    }
    let listed = header
        .get("crit")
        .and_then(Value::as_array)
        .is_some_and(|crit| crit.iter().any(|c| c == "b64"));
    Err(DecodeError::Header(match listed {
        false => "The 'b64' header parameter requires 'b64' to be listed in 'crit'.".into(),
        true => "It is required that you pass in a value for the \"detached_payload\" argument to decode a message having the b64 header set to false.".into(),
    }))
}
