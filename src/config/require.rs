//! Validation of a route's `require` (claim requirements) and `acr` (step-up) into
//! [`Requirements`].

use std::ops::Range;

use toml::Spanned;

use super::raw::RawRoute;
use super::Validator;
use crate::auth::{Policy, Requirements};

impl Validator<'_> {
    /// `require` and `acr`; both need a route that checks a token.
    pub(super) fn requirements(
        &mut self,
        raw: &RawRoute,
        policy: Option<Policy>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<Requirements> {
        let mut out = Requirements::default();
        let mut ok = true;
        if let Some(table) = &raw.require {
            ok &= self.no_token_route(policy, "require", table.span(), key);
            if table.get_ref().is_empty() {
                self.err(
                    table.span(),
                    key("require"),
                    "require is empty, so it requires nothing",
                    "list claims such as require = { roles = \"admin\" }, or remove it",
                );
                ok = false;
            }
            let mut entries = Vec::new();
            flatten("", table.get_ref(), &mut entries);
            for (name, value) in entries {
                match self.requirement(&name, value, table.span(), key) {
                    Some(values) => out = out.claim(&name, values),
                    None => ok = false,
                }
            }
        }
        if let Some(acr) = &raw.acr {
            ok &= self.no_token_route(policy, "acr", acr.span(), key);
            match self.acr_values(acr, key) {
                Some(values) => out = out.acr(values),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// False (with the error) when the route checks no token (`public`).
    fn no_token_route(
        &mut self,
        policy: Option<Policy>,
        what: &str,
        span: Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> bool {
        if policy != Some(Policy::Public) {
            return true;
        }
        self.err(
            span,
            key(what),
            format!("{what} needs a token, and a public route checks none"),
            format!("remove {what}, or set policy = \"access\" (or optional, fresh, refresh)"),
        );
        false
    }

    /// One claim's required values: a string or a non-empty list of strings. A scope string
    /// may hold several space-separated scopes, as the `scope` claim does.
    fn requirement(
        &mut self,
        name: &str,
        value: &toml::Value,
        span: Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<Vec<String>> {
        let key = key(&format!("require.{name}"));
        if name.split('.').any(str::is_empty) {
            let message = format!("{name:?} is not a claim path");
            self.err(
                span,
                key,
                message,
                "write a claim name, or a dotted path such as \"realm_access.roles\"",
            );
            return None;
        }
        let values: Option<Vec<String>> = match value {
            toml::Value::String(s) => Some(vec![s.clone()]),
            toml::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => None,
        };
        let Some(mut values) = values.filter(|vs| vs.iter().all(|v| !v.is_empty())) else {
            self.err(
                span,
                key,
                format!("{value} is not a claim value to require"),
                "write a string (\"admin\") or a non-empty list of strings ([\"repo:read\", \"repo:write\"])",
            );
            return None;
        };
        if name == "scope" {
            values = values
                .iter()
                .flat_map(|v| v.split(' '))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = values.iter().find(|v| !is_challenge_token(v)) {
                let message = format!("{bad:?} is not an OAuth scope (RFC 6749 section 3.3)");
                self.err(
                    span,
                    key,
                    message,
                    "write scopes of printable ASCII without quotes or backslashes",
                );
                return None;
            }
        }
        Some(values)
    }

    /// `acr`: a non-empty list of values that can travel in the challenge's `acr_values`.
    fn acr_values(
        &mut self,
        raw: &Spanned<Vec<Spanned<String>>>,
        key: &dyn Fn(&str) -> String,
    ) -> Option<Vec<String>> {
        if raw.get_ref().is_empty() {
            self.err(
                raw.span(),
                key("acr"),
                "the acr list is empty, so no token would ever be accepted",
                "list the accepted values, such as acr = [\"mfa\", \"phr\"], or remove acr",
            );
            return None;
        }
        let mut out = Vec::new();
        for value in raw.get_ref() {
            if !is_challenge_token(value.get_ref()) {
                let message = format!("{:?} cannot be sent in acr_values", value.get_ref());
                self.err(
                    value.span(),
                    key("acr"),
                    message,
                    "write values of printable ASCII without spaces, quotes or backslashes",
                );
                return None;
            }
            out.push(value.get_ref().clone());
        }
        Some(out)
    }
}

/// Nested TOML tables as dotted claim paths: `require = { realm_access.roles = "admin" }` and
/// `require = { "realm_access.roles" = "admin" }` mean the same.
fn flatten<'t>(prefix: &str, table: &'t toml::Table, out: &mut Vec<(String, &'t toml::Value)>) {
    for (name, value) in table {
        let path = match prefix {
            "" => name.clone(),
            p => format!("{p}.{name}"),
        };
        match value {
            toml::Value::Table(inner) => flatten(&path, inner, out),
            other => out.push((path, other)),
        }
    }
}

/// RFC 6749 section 3.3's scope-token characters (`%x21 / %x23-5B / %x5D-7E`), which are also
/// safe inside a quoted challenge parameter.
fn is_challenge_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}
