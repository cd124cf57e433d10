//! Profiles: each reference library's answers and rules as data. The decision code reads a
//! [`Profile`]'s fields (which status and text a reason gets, which of two parsing variants
//! applies, which claims default how); it never branches on the profile's name. Adding a
//! library means adding a table here.
//!
//! | profile | follows |
//! |---------|---------|
//! | `fastapi-jwt-auth` (default) | fastapi-jwt-auth 0.5.0 with PyJWT 1.7.1 |
//! | `fastapi-jwt-auth-pyjwt2` | async-fastapi-jwt-auth 0.6.6 with PyJWT 2.15.1 (the maintained forks) |
//! | `flask-jwt-extended` | flask-jwt-extended 4.7.4 with PyJWT 2.15.1, under waitress |

use std::borrow::Cow;

use http::StatusCode;

use super::{AuthError, DecodeError, TokenType};

/// One library's contract.
#[derive(Debug)]
pub struct Profile {
    /// The `[jwt] profile` value.
    pub name: &'static str,
    /// The library and PyJWT versions the tables were observed on, for `check` and the docs.
    pub follows: &'static str,
    pub texts: Texts,
    pub rules: Rules,
}

/// A status and a text; the text may hold one `{}` for the variable part (a header, cookie or
/// claim name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub text: &'static str,
}

const fn answer(status: u16, text: &'static str) -> Answer {
    Answer { status, text }
}

/// What the library answers for each reason a token check fails.
#[derive(Debug)]
pub struct Texts {
    /// The JSON body's key: `detail` (FastAPI), `msg` (flask-jwt-extended's default
    /// `JWT_ERROR_MESSAGE_KEY`, configurable as `[jwt] error_message_key`).
    pub message_key: &'static str,
    /// How the framework writes its JSON bodies.
    pub json: JsonStyle,
    /// The header is absent (`{}`: the header's name).
    pub missing_header: Answer,
    /// The header is not `<type> <token>` (`{}`: the header's name); `bad_header_bare` for a
    /// bare-token header (`header_type = ""`). `bad_header` holds `{type}` for the type.
    pub bad_header: Answer,
    pub bad_header_bare: Answer,
    /// The token cookie is absent (`{}`: the cookie's name).
    pub missing_cookie: Answer,
    /// The query-string location has no token (`{}`: the parameter's name).
    pub missing_query: Answer,
    /// The header holds no part of the header type (`{}`: the header's name, `{type}`: the
    /// type), where the library reads comma-separated credentials: a missing token.
    pub missing_type: Answer,
    pub wrong_type_access: Answer,
    pub wrong_type_refresh: Answer,
    /// `{}`: the claim.
    pub missing_claim: Answer,
    pub not_fresh: Answer,
    pub missing_csrf: Answer,
    pub csrf_mismatch: Answer,
    pub revoked: Answer,
    /// The status of a token that fails to decode; its text is PyJWT's unless overridden.
    pub decode_status: u16,
    /// Decode failures whose answer differs from PyJWT 1.7.1's 422 and wording.
    pub decode: &'static [(DecodeKind, Answer)],
}

/// How a framework writes a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// FastAPI's `JSONResponse`: compact, UTF-8.
    FastApi,
    /// Flask's `jsonify`: compact, `ensure_ascii`, a trailing newline.
    Flask,
}

/// A [`DecodeError`] without its data, for the override tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeKind {
    Expired,
}

/// How the library decides, where libraries differ.
#[derive(Debug)]
pub struct Rules {
    /// Reading the token header.
    pub header: HeaderRule,
    /// Which of several cookies of one name counts.
    pub duplicate_cookie: DuplicateCookie,
    /// How the `type` claim is read.
    pub token_type: TypeRule,
    /// Where the issuer is checked.
    pub issuer: IssuerRule,
    /// A token with `aud` when no audience is configured.
    pub unexpected_audience: UnexpectedAudience,
    /// When the CSRF value is compared with the token's `csrf` claim.
    pub csrf: CsrfStage,
    /// An expired token is reported expired only once the other claim checks (and the
    /// in-decode CSRF comparison) pass: flask-jwt-extended decodes it a second time without
    /// `exp`, and that decode's failures answer first.
    pub expiry_last: bool,
    /// The checks after decoding, in the library's order.
    pub order: [Check; 3],
    /// PyJWT's claim validation, where PyJWT 2 differs from 1.7.1.
    pub decode: DecodeRules,
    /// The library reads tokens from the query string (`token_location = ["query_string"]`).
    pub query_string: bool,
    /// The library lets the app choose the body key (`[jwt] error_message_key`).
    pub message_key_setting: bool,
    /// Whether `token_location`'s order is the order tokens are looked for.
    pub location_order: LocationOrder,
    /// The library lets `OPTIONS` requests through its decorators unchecked.
    pub options_exempt: bool,
    /// A token without `sub` is refused (422 `Missing claim: sub`).
    pub require_subject: bool,
    /// Payload errors come before `alg` and signature errors (flask-jwt-extended decodes
    /// without verification first).
    pub payload_first: bool,
    /// The server joins repeated request headers with `", "` (waitress) before the library
    /// reads one (the CSRF header, `Authorization`, `Cookie`).
    pub joins_repeated_headers: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationOrder {
    /// A header token first, then the cookie, whatever the configured order.
    HeadersFirst,
    /// In `token_location`'s order; the first location holding a token is used.
    Configured,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderRule {
    /// fastapi-jwt-auth: the first header is exactly `<type> <token>`.
    Exact,
    /// flask-jwt-extended: the header is split on commas and the part starting with the type
    /// is used; no such part is a bad header.
    SearchCommaSeparated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateCookie {
    /// Starlette 0.14's parser: the first `Cookie` header, the last of a name wins.
    Last,
    /// Starlette 1.x: every `Cookie` header in order, the last of a name wins.
    LastAcrossHeaders,
    /// Werkzeug's parser over the `Cookie` headers as waitress joins them (`", "`): a pair
    /// that is not `name=value` with an unquoted value free of spaces is skipped, and the
    /// first of a name wins.
    First,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeRule {
    /// `type` must be present and be exactly the wanted type (422 `Missing claim: type`).
    Exact,
    /// A token is a refresh token only when `type == "refresh"`; any other or no `type` is an
    /// access token.
    RefreshOrAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerRule {
    /// Only for access tokens on `access` and `fresh` routes (fastapi-jwt-auth).
    AccessRoutes,
    /// Every route and token type.
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnexpectedAudience {
    /// PyJWT's default: 422 `Invalid audience`.
    Reject,
    /// Accepted (the library turns `verify_aud` off without a configured audience).
    Accept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfStage {
    /// After every other check (fastapi-jwt-auth).
    Last,
    /// Inside decoding, right after the signature and claims (flask-jwt-extended): before
    /// the type, freshness and revocation checks, and before the time claims are judged.
    InDecode,
}

/// A check after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Revoked,
    Type,
    Fresh,
}

/// The PyJWT whose claim validation (`_validate_claims`) the library runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeRules {
    /// PyJWT 1.7.1 ([`super::jws`]).
    PyJwt1_7,
    /// PyJWT 2.15 ([`super::pyjwt2`]): a future `iat`, `exp == now`, a non-string `iss`,
    /// `sub` or `jti` are refused; `aud` mismatches read `Audience doesn't match`.
    PyJwt2_15,
}

/// fastapi-jwt-auth 0.5.0 on PyJWT 1.7.1: the default, and today's behaviour.
pub static FASTAPI_JWT_AUTH: Profile = Profile {
    name: "fastapi-jwt-auth",
    follows: "fastapi-jwt-auth 0.5.0 with PyJWT 1.7.1",
    texts: FASTAPI_TEXTS,
    rules: Rules {
        header: HeaderRule::Exact,
        duplicate_cookie: DuplicateCookie::Last,
        token_type: TypeRule::Exact,
        issuer: IssuerRule::AccessRoutes,
        unexpected_audience: UnexpectedAudience::Reject,
        csrf: CsrfStage::Last,
        expiry_last: false,
        order: [Check::Revoked, Check::Type, Check::Fresh],
        decode: DecodeRules::PyJwt1_7,
        query_string: false,
        message_key_setting: false,
        location_order: LocationOrder::HeadersFirst,
        options_exempt: false,
        require_subject: false,
        payload_first: false,
        joins_repeated_headers: false,
    },
};

const FASTAPI_TEXTS: Texts = Texts {
    message_key: "detail",
    json: JsonStyle::FastApi,
    missing_header: answer(401, "Missing {} Header"),
    bad_header: answer(422, "Bad {} header. Expected value '{type} <JWT>'"),
    bad_header_bare: answer(422, "Bad {} header. Expected value '<JWT>'"),
    missing_cookie: answer(401, "Missing cookie {}"),
    missing_query: answer(401, "Missing {} query parameter"),
    missing_type: answer(
        401,
        "Missing '{type}' type in '{}' header. Expected '{}: {type} <JWT>'",
    ),
    wrong_type_access: answer(422, "Only access tokens are allowed"),
    wrong_type_refresh: answer(422, "Only refresh tokens are allowed"),
    missing_claim: answer(422, "Missing claim: {}"),
    not_fresh: answer(401, "Fresh token required"),
    missing_csrf: answer(401, "Missing CSRF Token"),
    csrf_mismatch: answer(401, "CSRF double submit tokens do not match"),
    revoked: answer(401, "Token has been revoked"),
    decode_status: 422,
    decode: &[],
};

/// The maintained forks (async-fastapi-jwt-auth, fastapi-another-jwt-auth): fastapi-jwt-auth's
/// logic and answers, decoding with PyJWT 2.15, and Starlette 1.x's cookie parsing.
pub static FASTAPI_JWT_AUTH_PYJWT2: Profile = Profile {
    name: "fastapi-jwt-auth-pyjwt2",
    follows: "async-fastapi-jwt-auth 0.6.6 with PyJWT 2.15.1",
    texts: FASTAPI_TEXTS,
    rules: Rules {
        duplicate_cookie: DuplicateCookie::LastAcrossHeaders,
        decode: DecodeRules::PyJwt2_15,
        ..FASTAPI_JWT_AUTH.rules
    },
};

/// flask-jwt-extended 4.7.4 on PyJWT 2.15, served by waitress.
pub static FLASK_JWT_EXTENDED: Profile = Profile {
    name: "flask-jwt-extended",
    follows: "flask-jwt-extended 4.7.4 with PyJWT 2.15.1",
    texts: Texts {
        message_key: "msg",
        json: JsonStyle::Flask,
        missing_header: answer(401, "Missing {} Header"),
        bad_header: answer(422, "Bad {} header. Expected '{}: {type} <JWT>'"),
        bad_header_bare: answer(422, "Bad {} header. Expected '{}: <JWT>'"),
        missing_cookie: answer(401, "Missing cookie \"{}\""),
        missing_query: answer(401, "Missing '{}' query paramater"),
        missing_type: answer(
            401,
            "Missing '{type}' type in '{}' header. Expected '{}: {type} <JWT>'",
        ),
        wrong_type_access: answer(422, "Only non-refresh tokens are allowed"),
        wrong_type_refresh: answer(422, "Only refresh tokens are allowed"),
        missing_claim: answer(422, "Missing claim: {}"),
        not_fresh: answer(401, "Fresh token required"),
        missing_csrf: answer(401, "Missing CSRF token"),
        csrf_mismatch: answer(401, "CSRF double submit tokens do not match"),
        revoked: answer(401, "Token has been revoked"),
        decode_status: 422,
        decode: &[(DecodeKind::Expired, answer(401, "Token has expired"))],
    },
    rules: Rules {
        header: HeaderRule::SearchCommaSeparated,
        duplicate_cookie: DuplicateCookie::First,
        token_type: TypeRule::RefreshOrAccess,
        issuer: IssuerRule::Always,
        unexpected_audience: UnexpectedAudience::Accept,
        csrf: CsrfStage::InDecode,
        expiry_last: true,
        order: [Check::Type, Check::Fresh, Check::Revoked],
        decode: DecodeRules::PyJwt2_15,
        query_string: true,
        message_key_setting: true,
        location_order: LocationOrder::Configured,
        options_exempt: true,
        require_subject: true,
        payload_first: true,
        joins_repeated_headers: true,
    },
};

/// Every profile, the default first.
pub static PROFILES: [&Profile; 3] = [
    &FASTAPI_JWT_AUTH,
    &FASTAPI_JWT_AUTH_PYJWT2,
    &FLASK_JWT_EXTENDED,
];

impl Rules {
    /// `decoder` (and its providers' decoders) decoding as this profile's PyJWT does.
    pub fn decoder(&self, mut decoder: super::Decoder) -> super::Decoder {
        decoder.pyjwt = self.decode;
        decoder.payload_first = self.payload_first;
        decoder.providers = std::mem::take(&mut decoder.providers)
            .into_iter()
            .map(|(issuer, provider)| (issuer, self.decoder(provider)))
            .collect();
        decoder
    }
}

impl Profile {
    /// The default profile, fastapi-jwt-auth's.
    pub fn default_profile() -> &'static Profile {
        &FASTAPI_JWT_AUTH
    }

    /// The profile named `name`.
    pub fn named(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().copied().find(|p| p.name == name)
    }

    /// The names, for config errors.
    pub fn names() -> String {
        let names: Vec<String> = PROFILES.iter().map(|p| format!("{:?}", p.name)).collect();
        names.join(", ")
    }

    /// The status of a rejection under this profile.
    pub fn status(&self, error: &AuthError) -> StatusCode {
        let status = match (self.answer(error), error.own_answer()) {
            (Some(answer), _) => answer.status,
            (None, own) => {
                return own.map_or(StatusCode::UNPROCESSABLE_ENTITY, |(status, _)| status)
            }
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The message of a rejection under this profile.
    pub fn detail(&self, error: &AuthError) -> Cow<'static, str> {
        let t = &self.texts;
        let fill = |a: &Answer, part: &str| Cow::Owned(a.text.replacen("{}", part, 1));
        match error {
            AuthError::BadHeader(d) | AuthError::MissingToken(d) => Cow::Owned(d.to_string()),
            AuthError::Decode(e) => match self.decode_override(e) {
                Some(answer) => answer.text.into(),
                None => e.detail(),
            },
            AuthError::WrongType(TokenType::Access) => t.wrong_type_access.text.into(),
            AuthError::WrongType(TokenType::Refresh) => t.wrong_type_refresh.text.into(),
            AuthError::MissingClaim(claim) => fill(&t.missing_claim, claim),
            AuthError::NotFresh => t.not_fresh.text.into(),
            AuthError::MissingCookie(name) => fill(&t.missing_cookie, name),
            AuthError::MissingCsrf => t.missing_csrf.text.into(),
            AuthError::CsrfMismatch => t.csrf_mismatch.text.into(),
            AuthError::Revoked => t.revoked.text.into(),
            AuthError::BadClaim(_)
            | AuthError::TokenTooLarge
            | AuthError::InsufficientAuthentication(_)
            | AuthError::InsufficientScope(_)
            | AuthError::RevocationUnavailable => error
                .own_answer()
                .map_or_else(|| error.reason().into(), |(_, text)| text),
        }
    }

    /// The library's answer for this reason; `None` for freshgate's own reasons.
    fn answer(&self, error: &AuthError) -> Option<Answer> {
        let t = &self.texts;
        Some(match error {
            AuthError::BadHeader(_) => t.bad_header,
            AuthError::MissingToken(_) => t.missing_header,
            AuthError::Decode(e) => self
                .decode_override(e)
                .unwrap_or(answer(t.decode_status, "")),
            AuthError::WrongType(TokenType::Access) => t.wrong_type_access,
            AuthError::WrongType(TokenType::Refresh) => t.wrong_type_refresh,
            AuthError::MissingClaim(_) => t.missing_claim,
            AuthError::NotFresh => t.not_fresh,
            AuthError::MissingCookie(_) => t.missing_cookie,
            AuthError::MissingCsrf => t.missing_csrf,
            AuthError::CsrfMismatch => t.csrf_mismatch,
            AuthError::Revoked => t.revoked,
            AuthError::BadClaim(_)
            | AuthError::TokenTooLarge
            | AuthError::InsufficientAuthentication(_)
            | AuthError::InsufficientScope(_)
            | AuthError::RevocationUnavailable => return None,
        })
    }

    fn decode_override(&self, error: &DecodeError) -> Option<Answer> {
        let kind = error.kind()?;
        self.texts
            .decode
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, answer)| *answer)
    }

    /// The detail of a header `name` without a part of type `kind`.
    pub fn missing_type(&self, name: &str, kind: &str) -> String {
        self.texts
            .missing_type
            .text
            .replace("{}", name)
            .replace("{type}", kind)
    }

    /// The detail of a missing header named `name`.
    pub fn missing_header(&self, name: &str) -> String {
        self.texts.missing_header.text.replacen("{}", name, 1)
    }

    /// The detail of a malformed header named `name` of type `kind` (`""`: a bare token);
    /// every `{}` is the name.
    pub fn bad_header(&self, name: &str, kind: &str) -> String {
        match kind {
            "" => self.texts.bad_header_bare.text.replace("{}", name),
            kind => self
                .texts
                .bad_header
                .text
                .replace("{}", name)
                .replace("{type}", kind),
        }
    }
}
