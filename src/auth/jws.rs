//! Token decoding with PyJWT 1.7.1's order of checks and wording.
//!
//! Order: segments and base64 -> `kid` type -> algorithm allowed -> signature -> payload JSON ->
//! `iat` -> `nbf` -> `exp` -> `iss` -> `aud`. jsonwebtoken only checks signatures here; its
//! claim validation differs from PyJWT (default 60 s leeway, `exp` required, no numeric strings),
//! so the claim checks are ours.

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::b64::{decode_segment, decode_segment_strict};
pub use super::keys::VerifyKey;
use super::profile::DecodeRules;

/// The verified payload of a token.
pub type Claims = Map<String, Value>;

pub use super::decode_error::DecodeError;

/// Everything needed to decode tokens, built once per config snapshot.
#[derive(Debug)]
pub struct Decoder {
    /// Accepted `alg` values, in the configured order.
    pub algorithms: Vec<Algorithm>,
    pub keys: Vec<VerifyKey>,
    pub leeway_ms: i64,
    pub issuer: Option<String>,
    pub audience: Option<Vec<String>>,
    /// A provider's key set (`jwks_url`, `oidc_issuer`), read here as it currently is; with
    /// one, a token's `kid` always selects among the keys (an unknown one is `UnknownKid`).
    pub remote: Option<std::sync::Arc<crate::keys::RemoteKeys>>,
    /// `[[jwt.provider]]`: a token whose (unverified) `iss` is one of these issuers is decoded
    /// by that provider's decoder alone; other tokens by this one's own keys.
    pub providers: Vec<(String, Decoder)>,
    /// The PyJWT whose decoding this follows (the profile's).
    pub pyjwt: DecodeRules,
    /// flask-jwt-extended decodes once without the signature first: payload errors come
    /// before `alg` and signature errors.
    pub payload_first: bool,
}

/// The algorithm names PyJWT knows, with their jsonwebtoken equivalent.
pub fn algorithm_from_name(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

struct Parts<'a> {
    signing_input: &'a [u8],
    header: Map<String, Value>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// PyJWS `_load`: split and base64-decode the three segments, parse the header; PyJWT 2.15
/// decodes base64 strictly and checks `crit` and `b64`.
fn load(token: &[u8], pyjwt: DecodeRules) -> Result<Parts<'_>, DecodeError> {
    let decode_segment = match pyjwt {
        DecodeRules::PyJwt1_7 => decode_segment,
        DecodeRules::PyJwt2_15 => decode_segment_strict,
    };
    let dot = token.iter().rposition(|&b| b == b'.');
    let (signing_input, crypto) = dot
        .map(|i| (&token[..i], &token[i + 1..]))
        .ok_or(DecodeError::NotEnoughSegments)?;
    let dot = signing_input.iter().position(|&b| b == b'.');
    let (header_seg, payload_seg) = dot
        .map(|i| (&signing_input[..i], &signing_input[i + 1..]))
        .ok_or(DecodeError::NotEnoughSegments)?;
    let header = decode_segment(header_seg).ok_or(DecodeError::InvalidHeaderPadding)?;
    let header = match parse_json(&header, pyjwt).map_err(DecodeError::InvalidHeaderString)? {
        Value::Object(map) => map,
        _ => {
            return Err(DecodeError::InvalidHeaderString(
                "must be a json object".into(),
            ))
        }
    };
    if pyjwt == DecodeRules::PyJwt2_15
        && header.get("b64") == Some(&Value::Bool(false))
        && !payload_seg.is_empty()
    {
        return Err(DecodeError::Header(
            "Payload segment must be empty when 'b64' is false.".into(),
        ));
    }
    let payload = decode_segment(payload_seg).ok_or(DecodeError::InvalidPayloadPadding)?;
    let signature = decode_segment(crypto).ok_or(DecodeError::InvalidCryptoPadding)?;
    Ok(Parts {
        signing_input,
        header,
        payload,
        signature,
    })
}

/// A JSON segment: UTF-8 text (PyJWT 1.7.1's `.decode('utf-8')`), or under PyJWT 2 whatever
/// `json.loads(bytes)` detects.
fn parse_json(bytes: &[u8], pyjwt: DecodeRules) -> Result<Value, String> {
    let text = match pyjwt {
        DecodeRules::PyJwt1_7 => std::borrow::Cow::Borrowed(super::pyjwt2::utf8(bytes)?),
        DecodeRules::PyJwt2_15 => super::pyjwt2::json_text(bytes)?,
    };
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

impl Decoder {
    /// Decodes and verifies `token` at time `now_ms` (milliseconds since the epoch).
    /// `check_issuer` is true only for access tokens on `access` and `fresh` routes.
    pub fn decode(
        &self,
        token: &[u8],
        check_issuer: bool,
        now_ms: i64,
    ) -> Result<Claims, DecodeError> {
        let claims = self.verify(token)?;
        self.validate_claims(&claims, check_issuer, now_ms)?;
        Ok(claims)
    }

    /// The time-independent part of decoding: segments, header, `alg`, signature and payload.
    /// Its result depends only on the token bytes and the keys, so it may be cached; the claim
    /// checks ([`Decoder::validate_claims`]) must run on every use.
    pub fn verify(&self, token: &[u8]) -> Result<Claims, DecodeError> {
        if !self.providers.is_empty() {
            // The issuer picks the keys; it is read before verification only to choose them,
            // and the chosen provider then checks it again with the rest of the claims.
            let parts = load(token, self.pyjwt)?;
            let iss = match parse_json(&parts.payload, self.pyjwt) {
                Ok(Value::Object(payload)) => payload.get("iss").cloned(),
                _ => None,
            };
            if let Some(provider) = self.provider(iss.as_ref()) {
                return provider.verify(token);
            }
            if self.keys.is_empty() && self.remote.is_none() {
                return Err(match iss {
                    None => DecodeError::MissingIssuer,
                    Some(_) => DecodeError::InvalidIssuer,
                });
            }
        }
        let parts = load(token, self.pyjwt)?;
        let kid = match parts.header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(DecodeError::KidNotString),
        };
        if self.pyjwt == DecodeRules::PyJwt2_15 {
            super::pyjwt2::check_crit(&parts.header)?;
            super::pyjwt2::check_b64(&parts.header)?;
        }
        let payload = || match parse_json(&parts.payload, self.pyjwt)
            .map_err(DecodeError::InvalidPayloadString)?
        {
            Value::Object(map) => Ok(map),
            _ => Err(DecodeError::InvalidPayloadString(
                "must be a json object".into(),
            )),
        };
        let early = self.payload_first.then(payload).transpose()?;
        let alg = match (parts.header.get("alg"), self.pyjwt) {
            (None, DecodeRules::PyJwt2_15) => return Err(DecodeError::AlgMissing),
            (alg, _) => alg,
        };
        let alg = alg
            .and_then(Value::as_str)
            .and_then(algorithm_from_name)
            .filter(|alg| self.algorithms.contains(alg))
            .ok_or(DecodeError::AlgNotAllowed)?;
        self.verify_signature(alg, kid, parts.signing_input, &parts.signature)?;
        early.map_or_else(payload, Ok)
    }

    /// Verifies with the keys that may: those named by the token's `kid` when keys carry kids,
    /// else every key pinned to the token's `alg`.
    fn verify_signature(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), DecodeError> {
        let provider = CryptoProvider::try_get_default().ok_or(DecodeError::NoKeyForAlg)?;
        // The local keys, then the provider's set as it is now (a lock-free load).
        let remote = self.remote.as_ref().map(|r| r.current());
        let remote_keys = remote.as_ref().map_or(&[][..], |set| set.keys.as_slice());
        let all = || self.keys.iter().chain(remote_keys);
        let named: Vec<&VerifyKey> = match kid {
            Some(kid) if self.remote.is_some() || all().any(|k| k.kid.is_some()) => {
                let named: Vec<&VerifyKey> =
                    all().filter(|k| k.kid.as_deref() == Some(kid)).collect();
                if named.is_empty() {
                    return Err(DecodeError::UnknownKid);
                }
                if !named.iter().any(|k| k.algorithms.contains(&alg)) {
                    return Err(DecodeError::KidAlgMismatch);
                }
                named
            }
            _ => all().collect(),
        };
        let mut candidates = named
            .into_iter()
            .filter(|k| k.algorithms.contains(&alg))
            .peekable();
        if candidates.peek().is_none() {
            return Err(DecodeError::NoKeyForAlg);
        }
        // The signature type of jsonwebtoken's verifiers is `Vec<u8>`.
        let signature = signature.to_vec();
        for key in candidates {
            let Ok(verifier) = (provider.verifier_factory)(&alg, &key.key) else {
                continue;
            };
            if verifier.verify(message, &signature).is_ok() {
                return Ok(());
            }
        }
        Err(DecodeError::SignatureFailed)
    }

    /// PyJWT `_validate_claims` with its default options.
    pub fn validate_claims(
        &self,
        claims: &Claims,
        check_issuer: bool,
        now_ms: i64,
    ) -> Result<(), DecodeError> {
        if let Some(provider) = self.provider(claims.get("iss")) {
            // A provider's issuer is always checked: it is what chose the provider's keys.
            return provider.validate_claims(claims, true, now_ms);
        }
        // PyJWT truncates "now" to whole seconds before comparing.
        let now = i128::from(now_ms.div_euclid(1000)) * 1000;
        let leeway = i128::from(self.leeway_ms);
        if let Some(iat) = claims.get("iat") {
            python_int(iat).map_err(|e| e.or(DecodeError::IatNotInteger))?;
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = python_int(nbf).map_err(|e| e.or(DecodeError::NbfNotInteger))?;
            if nbf.saturating_mul(1000) > now + leeway {
                return Err(DecodeError::NotYetValid);
            }
        }
        if let Some(exp) = claims.get("exp") {
            let exp = python_int(exp).map_err(|e| e.or(DecodeError::ExpNotInteger))?;
            if exp.saturating_mul(1000) < now - leeway {
                return Err(DecodeError::Expired);
            }
        }
        if let (true, Some(issuer)) = (check_issuer, &self.issuer) {
            match claims.get("iss") {
                None => return Err(DecodeError::MissingIssuer),
                Some(Value::String(iss)) if iss == issuer => {}
                Some(_) => return Err(DecodeError::InvalidIssuer),
            }
        }
        self.validate_audience(claims.get("aud"))
    }

    /// For `explain`: which issuer's keys and which key verify `token` (the same selection as
    /// [`Decoder::verify`], key by key), or `None` when none does.
    pub fn verified_by(&self, token: &[u8]) -> Option<String> {
        let parts = load(token, self.pyjwt).ok()?;
        let iss = match parse_json(&parts.payload, self.pyjwt) {
            Ok(Value::Object(payload)) => payload.get("iss").cloned(),
            _ => None,
        };
        let (decoder, whose) = match self.provider(iss.as_ref()) {
            Some(provider) => (
                provider,
                format!("provider {}", provider.issuer.as_deref()?),
            ),
            None => (self, "[jwt]".to_owned()),
        };
        let kid = parts.header.get("kid").and_then(Value::as_str);
        let alg = parts
            .header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(algorithm_from_name)
            .filter(|alg| decoder.algorithms.contains(alg))?;
        let remote = decoder.remote.as_ref().map(|r| (r.source(), r.current()));
        let local = decoder
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k, format!("key {} of the config", i + 1)));
        let fetched = remote.iter().flat_map(|(source, set)| {
            set.keys
                .iter()
                .map(move |k| (k, format!("a key fetched from {source}")))
        });
        let crypto = CryptoProvider::try_get_default()?;
        let signature = parts.signature.clone();
        local.chain(fetched).find_map(|(key, origin)| {
            let named = kid.is_none() || key.kid.is_none() || key.kid.as_deref() == kid;
            let verifier = (crypto.verifier_factory)(&alg, &key.key).ok()?;
            let ok = named
                && key.algorithms.contains(&alg)
                && verifier.verify(parts.signing_input, &signature).is_ok();
            let kid = key.kid.as_deref().unwrap_or("-");
            ok.then(|| format!("{whose}: {origin} (kid {kid}, {alg:?})"))
        })
    }

    /// The `[[jwt.provider]]` whose issuer is `iss`, if any.
    pub fn provider(&self, iss: Option<&Value>) -> Option<&Decoder> {
        let iss = iss?.as_str()?;
        self.providers
            .iter()
            .find(|(issuer, _)| issuer == iss)
            .map(|(_, decoder)| decoder)
    }

    /// Every remote key set: this decoder's and its providers'. Empty (no allocation) without
    /// remote keys, which is the per-request common case.
    pub fn remotes(&self) -> Vec<&std::sync::Arc<crate::keys::RemoteKeys>> {
        let own = self.remote.iter();
        own.chain(self.providers.iter().flat_map(|(_, d)| d.remote.iter()))
            .collect()
    }

    fn validate_audience(&self, aud: Option<&Value>) -> Result<(), DecodeError> {
        let (audience, aud) = match (&self.audience, aud) {
            (None, None) => return Ok(()),
            (Some(_), None) => return Err(DecodeError::MissingAudience),
            (None, Some(_)) => return Err(DecodeError::InvalidAudience),
            (Some(audience), Some(aud)) => (audience, aud),
        };
        match audience_matches(audience, aud)? {
            true => Ok(()),
            false => Err(DecodeError::InvalidAudience),
        }
    }
}

/// Whether `aud` (a string or a list of strings) names one of `audience`.
pub(super) fn audience_matches(audience: &[String], aud: &Value) -> Result<bool, DecodeError> {
    let claimed: Vec<&str> = match aud {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(DecodeError::InvalidAudienceFormat)?,
        _ => return Err(DecodeError::InvalidAudienceFormat),
    };
    Ok(audience.iter().any(|a| claimed.contains(&a.as_str())))
}

pub use super::pyint::{python_int, NotAnInt};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_int_accepts_what_python_int_accepts() {
        let cases = [
            (json!(5), Some(5)),
            (json!(-5), Some(-5)),
            (json!(5.9), Some(5)),
            (json!(-5.9), Some(-5)),
            (json!(true), Some(1)),
            (json!("1795972257"), Some(1795972257)),
            (json!("  42\t"), Some(42)),
            (json!("+7"), Some(7)),
            (json!("1_000"), Some(1000)),
            (json!("1__0"), None),
            (json!("_1"), None),
            (json!("1.5"), None),
            (json!(""), None),
            (json!("abc"), None),
        ];
        for (value, want) in cases {
            assert_eq!(python_int(&value).ok(), want, "int({value})");
        }
        let type_errors = [
            (json!(null), "NoneType"),
            (json!([1]), "list"),
            (json!({}), "dict"),
        ];
        for (value, name) in type_errors {
            assert_eq!(
                python_int(&value),
                Err(NotAnInt::Type(name)),
                "int({value})"
            );
        }
    }
}
