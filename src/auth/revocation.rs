//! Revocation kept outside the process (`[revocation]`, a Redis the apps write): the pure part.
//! The key templates and the rule that reads the values live here; the lookup itself (I/O) is
//! in [`crate::revocation`], and its answer comes back to the decision as a [`Revocation`]
//! value, consulted at the library's denylist step (after decoding, before the type check).
//!
//! | key template needs | the token lacks it           | answer                       |
//! |--------------------|------------------------------|------------------------------|
//! | `{jti}`            | `jti` absent                 | 422 `Missing claim: jti`     |
//! | `{sub}`            | `sub` absent or null         | 422 `Missing claim: sub`     |
//! | `{jti}`/`{sub}`    | an array or object           | 422 `Invalid claim: ...`     |
//!
//! A value that is not a string (a Redis list or hash where a string is expected), or a cutoff
//! that is not an epoch number, revokes the token (fail closed): the store is misconfigured and
//! nobody can tell what was meant; the lookup logs and counts it.

use std::fmt;

use serde_json::Value;

use super::{AuthError, Claims};

/// One piece of a key template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Jti,
    Sub,
    Token,
}

/// A key template over `{jti}`, `{sub}` and `{token}`, e.g. `revoked:{token}`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    parts: Vec<Part>,
    text: String,
}

impl fmt::Debug for KeyTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyTemplate").field(&self.text).finish()
    }
}

/// Why a key template is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    Empty,
    Unknown(String),
    Unclosed,
    /// No placeholder: every token would share one key.
    NoPlaceholder,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str("the key template is empty"),
            TemplateError::Unknown(name) => write!(f, "unknown placeholder {{{name}}}"),
            TemplateError::Unclosed => f.write_str("a '{' is not closed by '}'"),
            TemplateError::NoPlaceholder => {
                f.write_str("the template has no placeholder, so every token would share one key")
            }
        }
    }
}

impl KeyTemplate {
    /// Parses a template; `allowed` are the placeholders it may use.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Self, TemplateError> {
        if text.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..].find('}').ok_or(TemplateError::Unclosed)? + open;
            let name = &rest[open + 1..close];
            let part = match name {
                "jti" => Part::Jti,
                "sub" => Part::Sub,
                "token" => Part::Token,
                _ => return Err(TemplateError::Unknown(name.to_owned())),
            };
            if !allowed.contains(&name) {
                return Err(TemplateError::Unknown(name.to_owned()));
            }
            parts.push(part);
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.iter().any(|p| !matches!(p, Part::Text(_))) {
            return Err(TemplateError::NoPlaceholder);
        }
        Ok(KeyTemplate {
            parts,
            text: text.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn uses_token(&self) -> bool {
        self.parts.contains(&Part::Token)
    }

    pub fn uses_sub(&self) -> bool {
        self.parts.contains(&Part::Sub)
    }

    /// The key for a token, or the decision's answer when a claim it needs is unusable.
    pub fn render(&self, claims: &Claims, token: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut key = Vec::with_capacity(self.text.len() + 40);
        for part in &self.parts {
            match part {
                Part::Text(text) => key.extend_from_slice(text.as_bytes()),
                Part::Jti => key.extend_from_slice(claim_text(claims, "jti")?.as_bytes()),
                Part::Sub => key.extend_from_slice(claim_text(claims, "sub")?.as_bytes()),
                Part::Token => key.extend_from_slice(token),
            }
        }
        Ok(key)
    }

    /// The key from given values, for `freshgate revoke`; `None` when the template needs a
    /// value that is not given.
    pub fn render_with(
        &self,
        jti: Option<&str>,
        sub: Option<&str>,
        token: Option<&str>,
    ) -> Option<Vec<u8>> {
        let mut key = Vec::new();
        for part in &self.parts {
            let text = match part {
                Part::Text(text) => text.as_str(),
                Part::Jti => jti?,
                Part::Sub => sub?,
                Part::Token => token?,
            };
            key.extend_from_slice(text.as_bytes());
        }
        Some(key)
    }
}

/// A claim as key text: a string as is, a number or boolean as its JSON text (as Python's
/// `str()` of the app's value would mostly be); absent or null is missing, arrays and objects
/// are refused.
fn claim_text<'c>(
    claims: &'c Claims,
    name: &'static str,
) -> Result<std::borrow::Cow<'c, str>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Err(AuthError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s.as_str().into()),
        Some(Value::Array(_) | Value::Object(_)) => Err(AuthError::BadClaim(name)),
        Some(other) => Ok(other.to_string().into()),
    }
}

/// When the primary key's value means "revoked".
#[derive(Clone, PartialEq, Eq)]
pub enum RevokedWhen {
    /// The key exists, whatever its value (flask-jwt-extended).
    Exists,
    /// The value equals this (fastapi-jwt-auth's example writes `true`).
    Equals(Vec<u8>),
    /// The key is absent (an allowlist).
    Missing,
}

impl fmt::Debug for RevokedWhen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevokedWhen::Exists => f.write_str("exists"),
            RevokedWhen::Equals(v) => write!(f, "equals:{}", String::from_utf8_lossy(v)),
            RevokedWhen::Missing => f.write_str("missing"),
        }
    }
}

/// Which token types are checked (`authjwt_denylist_token_checks`); both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenChecks {
    pub access: bool,
    pub refresh: bool,
}

impl Default for TokenChecks {
    fn default() -> Self {
        TokenChecks {
            access: true,
            refresh: true,
        }
    }
}

impl TokenChecks {
    /// Whether a token with these claims is checked. The library reads the `type` claim; a
    /// token without a known type is checked (it is refused at the type check anyway).
    pub fn applies(&self, claims: &Claims) -> bool {
        match claims.get("type").and_then(Value::as_str) {
            Some("access") => self.access,
            Some("refresh") => self.refresh,
            _ => true,
        }
    }
}

/// The rules of `[revocation]` the decision needs: which keys, and how to read them.
#[derive(Debug, Clone)]
pub struct RevocationRules {
    pub key: KeyTemplate,
    pub revoked_when: RevokedWhen,
    /// `subject_cutoff_key`: an epoch; a token with `iat` at or before it is revoked.
    pub cutoff: Option<KeyTemplate>,
}

/// The keys to read for one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub primary: Vec<u8>,
    pub cutoff: Option<Vec<u8>>,
}

/// One value as read: absent, a string, or something that is not a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Absent,
    Text(Vec<u8>),
    WrongType,
}

/// What the lookup found for a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Clear,
    Revoked,
    /// The store did not answer in time and the policy is `deny`.
    Unavailable,
    /// The token cannot be looked up (a claim the key needs is missing): the decision's answer.
    Refused(AuthError),
}

/// The answer passed to the decision.
#[derive(Debug, Clone, PartialEq)]
pub enum Revocation {
    /// No lookup was made. With `[revocation]` configured, a token that needs one is refused
    /// as unavailable (fail closed): only a caller that looked up may pass a token.
    Unchecked,
    /// Deliberately not looked up (`freshgate explain --no-revocation`).
    Skipped,
    Answered(Verdict),
}

impl RevocationRules {
    /// The keys for a token, or the decision's answer when its claims cannot make them.
    pub fn keys(&self, claims: &Claims, token: &[u8]) -> Result<Keys, AuthError> {
        let primary = self.key.render(claims, token)?;
        let cutoff = match &self.cutoff {
            Some(template) => Some(template.render(claims, token)?),
            None => None,
        };
        Ok(Keys { primary, cutoff })
    }

    /// Reads the values of [`RevocationRules::keys`]; `cutoff` is `Absent` without a cutoff key.
    pub fn judge(&self, claims: &Claims, primary: &Stored, cutoff: &Stored) -> Verdict {
        let revoked = match (&self.revoked_when, primary) {
            (_, Stored::WrongType) => true,
            (RevokedWhen::Exists, value) => *value != Stored::Absent,
            (RevokedWhen::Missing, value) => *value == Stored::Absent,
            (RevokedWhen::Equals(want), Stored::Text(got)) => want == got,
            (RevokedWhen::Equals(_), Stored::Absent) => false,
        };
        if revoked || cut_off(claims, cutoff) {
            return Verdict::Revoked;
        }
        Verdict::Clear
    }
}

/// The subject's cutoff: a token issued at or before it is revoked. A cutoff that is not a
/// number, or a token without a numeric `iat`, fails closed.
fn cut_off(claims: &Claims, cutoff: &Stored) -> bool {
    let at = match cutoff {
        Stored::Absent => return false,
        Stored::WrongType => return true,
        Stored::Text(text) => std::str::from_utf8(text)
            .ok()
            .and_then(|t| t.trim().parse::<f64>().ok()),
    };
    let Some(at) = at.filter(|a| a.is_finite()) else {
        return true;
    };
    match claims.get("iat").and_then(Value::as_f64) {
        Some(iat) => iat <= at,
        None => true,
    }
}

impl Verdict {
    /// The decision's rejection, if any.
    pub fn error(&self) -> Option<AuthError> {
        match self {
            Verdict::Clear => None,
            Verdict::Revoked => Some(AuthError::Revoked),
            Verdict::Unavailable => Some(AuthError::RevocationUnavailable),
            Verdict::Refused(error) => Some(error.clone()),
        }
    }
}
