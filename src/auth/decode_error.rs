//! [`DecodeError`]: why a token failed to decode, with PyJWT's wording.

use std::borrow::Cow;

/// Why a token failed to decode. Every variant is a 422 whose detail is PyJWT's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    NotEnoughSegments,
    InvalidHeaderPadding,
    InvalidHeaderString(String),
    InvalidPayloadPadding,
    InvalidCryptoPadding,
    KidNotString,
    /// PyJWT 2.15's JOSE header checks (`crit`, `b64`); carries PyJWT's text.
    Header(String),
    /// PyJWT 2: the header has no `alg`.
    AlgMissing,
    AlgNotAllowed,
    /// The algorithm is accepted but no configured key may verify it.
    NoKeyForAlg,
    /// The token names a `kid` that no key has.
    UnknownKid,
    /// The key the `kid` names cannot verify the token's `alg`.
    KidAlgMismatch,
    SignatureFailed,
    InvalidPayloadString(String),
    IatNotInteger,
    NbfNotInteger,
    ExpNotInteger,
    /// A time claim that is `null`, a list or an object: Python's `int()` raises `TypeError`,
    /// which PyJWT does not catch, so the library's detail is Python's message naming the type.
    TimeClaimType(&'static str),
    NotYetValid,
    /// PyJWT 2: `iat` is in the future.
    IssuedInFuture,
    /// PyJWT 2.10+: `sub` is not a string.
    SubjectNotString,
    /// PyJWT 2.10+: `jti` is not a string.
    JtiNotString,
    Expired,
    MissingIssuer,
    InvalidIssuer,
    MissingAudience,
    InvalidAudience,
    InvalidAudienceFormat,
    /// PyJWT 2: `iss` is not a string.
    IssuerNotString,
    /// PyJWT 2: no configured audience is in `aud`.
    AudienceMismatch,
}

impl DecodeError {
    /// The `detail` text, PyJWT's wording.
    pub fn detail(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            DecodeError::NotEnoughSegments => "Not enough segments",
            DecodeError::InvalidHeaderPadding => "Invalid header padding",
            DecodeError::InvalidHeaderString(why) => {
                return Cow::Owned(format!("Invalid header string: {why}"))
            }
            DecodeError::InvalidPayloadPadding => "Invalid payload padding",
            DecodeError::InvalidCryptoPadding => "Invalid crypto padding",
            DecodeError::KidNotString => "Key ID header parameter must be a string",
            DecodeError::Header(why) => return Cow::Owned(why.clone()),
            DecodeError::AlgMissing => "Algorithm not specified",
            DecodeError::AlgNotAllowed => "The specified alg value is not allowed",
            DecodeError::NoKeyForAlg => "No key is configured for the token's alg",
            DecodeError::UnknownKid => "No key matches the token's kid",
            DecodeError::KidAlgMismatch => "The key named by the token's kid does not fit its alg",
            DecodeError::SignatureFailed => "Signature verification failed",
            DecodeError::InvalidPayloadString(why) => {
                return Cow::Owned(format!("Invalid payload string: {why}"))
            }
            DecodeError::IatNotInteger => "Issued At claim (iat) must be an integer.",
            DecodeError::NbfNotInteger => "Not Before claim (nbf) must be an integer.",
            DecodeError::ExpNotInteger => "Expiration Time claim (exp) must be an integer.",
            DecodeError::TimeClaimType(type_name) => {
                return Cow::Owned(format!(
                    "int() argument must be a string, a bytes-like object or a real number, not '{type_name}'"
                ))
            }
            DecodeError::NotYetValid => "The token is not yet valid (nbf)",
            DecodeError::IssuedInFuture => "The token is not yet valid (iat)",
            DecodeError::SubjectNotString => "Subject must be a string",
            DecodeError::JtiNotString => "JWT ID must be a string",
            DecodeError::Expired => "Signature has expired",
            DecodeError::MissingIssuer => "Token is missing the \"iss\" claim",
            DecodeError::InvalidIssuer => "Invalid issuer",
            DecodeError::MissingAudience => "Token is missing the \"aud\" claim",
            DecodeError::InvalidAudience => "Invalid audience",
            DecodeError::InvalidAudienceFormat => "Invalid claim format in token",
            DecodeError::IssuerNotString => "Payload Issuer (iss) must be a string",
            DecodeError::AudienceMismatch => "Audience doesn't match",
        })
    }

    /// The kind of failure, for the decode answers a profile overrides.
    pub fn kind(&self) -> Option<super::profile::DecodeKind> {
        use super::profile::DecodeKind;
        Some(match self {
            DecodeError::Expired => DecodeKind::Expired,
            _ => return None,
        })
    }

    /// A short stable label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotEnoughSegments
            | DecodeError::InvalidHeaderPadding
            | DecodeError::InvalidHeaderString(_)
            | DecodeError::InvalidPayloadPadding
            | DecodeError::InvalidCryptoPadding
            | DecodeError::KidNotString
            | DecodeError::Header(_)
            | DecodeError::InvalidPayloadString(_) => "malformed",
            DecodeError::AlgMissing
            | DecodeError::AlgNotAllowed
            | DecodeError::NoKeyForAlg
            | DecodeError::UnknownKid
            | DecodeError::KidAlgMismatch => "algorithm",
            DecodeError::SignatureFailed => "invalid_signature",
            DecodeError::IatNotInteger
            | DecodeError::NbfNotInteger
            | DecodeError::ExpNotInteger
            | DecodeError::TimeClaimType(_) => "malformed_claim",
            DecodeError::NotYetValid | DecodeError::IssuedInFuture => "not_yet_valid",
            DecodeError::SubjectNotString | DecodeError::JtiNotString => "malformed_claim",
            DecodeError::Expired => "expired",
            DecodeError::MissingIssuer
            | DecodeError::InvalidIssuer
            | DecodeError::IssuerNotString => "issuer",
            DecodeError::MissingAudience
            | DecodeError::InvalidAudience
            | DecodeError::InvalidAudienceFormat
            | DecodeError::AudienceMismatch => "audience",
        }
    }
}
