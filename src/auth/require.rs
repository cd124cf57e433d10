//! What a route asks of a verified token beyond its policy: claim requirements (`require`) and
//! the authentication context (`acr`), judged once the decision accepted the token.
//!
//! | step | check (only once the token passed every check of the decision table) | failure |
//! |------|------------------------------------------------------------------------|---------|
//! | 7    | `acr`: the token's `acr` is one of the route's values                  | 401 `Insufficient user authentication`, RFC 9470 `error="insufficient_user_authentication"`, `acr_values="..."` (and `max_age=N` with a window) |
//! | 8    | `require`: every listed claim holds                                    | 403 `Not enough permissions`, RFC 6750 `error="insufficient_scope"` (with `scope="..."` when a scope is missing) |
//!
//! A claim requirement names a claim path (dotted, as `[forward] claims`) and one or more
//! values; each value must hold: a string claim must equal it, an array claim must contain it
//! (as a string element). `scope` follows OAuth: the token's scopes are its `scope` claim split
//! on spaces (RFC 8693 section 4.2; an array is read as a list too) together with an `scp`
//! array (or space-separated string). A claim of any other JSON type (number, boolean, object,
//! null) or an absent claim never holds: a 403, never an error. Step-up (401) comes before
//! permissions (403), and freshness before both, so a client is asked to authenticate again
//! before it is told it may not.

use std::sync::Arc;

use serde_json::Value;

use super::{AuthError, Claims, Identity, Outcome};

/// A route's `require` and `acr`; the default asks nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    claims: Vec<ClaimRequirement>,
    /// The accepted `acr` values, and the challenge's `acr_values` (space-separated).
    acr: Option<(Vec<String>, Arc<str>)>,
    /// The required scopes, space-separated, for the challenge's `scope`.
    scope: Option<Arc<str>>,
}

/// One `require` entry: the claim at `path` must hold every one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClaimRequirement {
    /// The path as written, `realm_access.roles`; `scope` is OAuth's.
    name: String,
    path: Vec<String>,
    values: Vec<String>,
}

impl Requirements {
    /// Adds a requirement on the claim at dotted `name`: every one of `values` must hold.
    pub fn claim(mut self, name: &str, values: Vec<String>) -> Self {
        if name == "scope" {
            self.scope = Some(values.join(" ").into());
        }
        self.claims.push(ClaimRequirement {
            name: name.to_owned(),
            path: name.split('.').map(str::to_owned).collect(),
            values,
        });
        self
    }

    /// Accepts only tokens whose `acr` is one of `values`.
    pub fn acr(mut self, values: Vec<String>) -> Self {
        let listed = values.join(" ").into();
        self.acr = Some((values, listed));
        self
    }

    /// Nothing is required.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty() && self.acr.is_none()
    }

    /// Whether every token these requirements admit is also admitted by `other`'s: each of
    /// `other`'s claim requirements is one of ours with at least its values, and our `acr`
    /// values are among `other`'s. Used with [`super::Rule::implies`] for path aliases.
    pub fn implies(&self, other: &Requirements) -> bool {
        let claims = other.claims.iter().all(|theirs| {
            self.claims.iter().any(|mine| {
                mine.path == theirs.path && theirs.values.iter().all(|v| mine.values.contains(v))
            })
        });
        let acr = match (&self.acr, &other.acr) {
            (_, None) => true,
            (Some((mine, _)), Some((theirs, _))) => mine.iter().all(|v| theirs.contains(v)),
            (None, Some(_)) => false,
        };
        claims && acr
    }

    /// The decision with these requirements applied: an accepted token that does not meet
    /// them becomes a rejection carrying its identity (so report mode still forwards it);
    /// anonymous requests (on `optional` routes) and rejections are left as they are.
    pub fn judge(
        &self,
        decision: Result<Outcome, (AuthError, Option<Identity>)>,
    ) -> Result<Outcome, (AuthError, Option<Identity>)> {
        match decision {
            Ok(Outcome::Authenticated(identity)) => match self.check(&identity.claims) {
                Ok(()) => Ok(Outcome::Authenticated(identity)),
                Err(error) => Err((error, Some(identity))),
            },
            other => other,
        }
    }

    /// The `acr` step-up first, then the claims.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        if let Some((accepted, listed)) = &self.acr {
            let acr = claims.get("acr").and_then(Value::as_str);
            if !acr.is_some_and(|acr| accepted.iter().any(|a| a == acr)) {
                return Err(AuthError::InsufficientAuthentication(listed.clone()));
            }
        }
        let mut failed = false;
        let mut scope_failed = false;
        for requirement in &self.claims {
            let held = match requirement.name.as_str() {
                "scope" => {
                    let scopes = scopes(claims);
                    requirement
                        .values
                        .iter()
                        .all(|v| scopes.contains(&v.as_str()))
                }
                _ => holds(at(claims, &requirement.path), &requirement.values),
            };
            if !held {
                failed = true;
                scope_failed |= requirement.name == "scope";
            }
        }
        match failed {
            false => Ok(()),
            true => Err(AuthError::InsufficientScope(
                self.scope.clone().filter(|_| scope_failed),
            )),
        }
    }
}

/// The claim at a dotted path, as `[forward] claims` reads it.
fn at<'c>(claims: &'c Claims, path: &[String]) -> Option<&'c Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(claims.get(first)?, |value, segment| value.get(segment))
}

/// A string claim equals each value; an array claim contains each as a string element.
fn holds(claim: Option<&Value>, values: &[String]) -> bool {
    match claim {
        Some(Value::String(s)) => values.iter().all(|v| v == s),
        Some(Value::Array(items)) => values
            .iter()
            .all(|v| items.iter().any(|item| item.as_str() == Some(v))),
        Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_)) | None => false,
    }
}

/// The token's OAuth scopes: `scope` and `scp`, each a space-separated string or an array of
/// strings; anything else contributes none.
fn scopes(claims: &Claims) -> Vec<&str> {
    let mut out = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => out.extend(s.split(' ').filter(|s| !s.is_empty())),
            Some(Value::Array(items)) => out.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    out
}
